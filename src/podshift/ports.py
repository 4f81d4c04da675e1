"""Who holds a TCP port of this host, read from /proc (no ss/lsof/netstat needed).

``/proc/net/tcp`` and ``tcp6`` list the listening sockets of this network
namespace with their inode; ``/proc/<pid>/fd`` links name the socket inodes
each process holds.  Reading other users' fd directories needs root: without
it the port is still found, but the holder is unknown.

A Podman stack that was not stopped cleanly can leave ``rootlessport``,
``conmon`` or ``slirp4netns`` listening on the project's ports, and Docker
then fails with a bare "address already in use"; naming the process (and
whether it is one of Podman's or Docker's) turns that into something to act on.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from podshift.runtimes.base import PROJECT_LABEL
from podshift.runtimes.docker import DockerRuntime

#: Processes of Podman's that hold a container's published port.
PODMAN_PROCESSES = ("rootlessport", "rootlessport-child", "conmon", "slirp4netns", "podman", "pasta")
#: Docker's: its userland proxy, or the daemon itself.
DOCKER_PROCESSES = ("docker-proxy", "dockerd")
_LISTEN = "0A"


@dataclass(frozen=True)
class PortHolder:
    """A process holding a listening TCP socket."""

    port: int
    pid: int | None  # None: the socket exists but no readable process holds it
    command: str  # the process's command line ("" when unknown)
    uid: int | None = None

    @property
    def program(self) -> str:
        """The program's base name (``docker-proxy``, ``conmon``, ``rootlessport``, ``python3``)."""
        first = self.command.split(" ", 1)[0]
        return first.rsplit("/", 1)[-1]

    @property
    def is_podman(self) -> bool:
        return self.program in PODMAN_PROCESSES

    @property
    def is_docker(self) -> bool:
        return self.program in DOCKER_PROCESSES

    def who(self) -> str:
        """``PID 4242 (/usr/bin/conmon --api-version 1 ...)``, or that it cannot be named."""
        if self.pid is None:
            return "a process podshift cannot see (run as root to name it)"
        owner = f", uid {self.uid}" if self.uid is not None else ""
        return f"PID {self.pid} ({self.command}{owner})"

    def describe(self) -> str:
        return f"port {self.port} is held by {self.who()}"


def listening_inodes(port: int, proc: Path = Path("/proc")) -> set[int]:
    """Inodes of the TCP sockets listening on *port* (any address, IPv4 and IPv6)."""
    inodes: set[int] = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = (proc / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10 or fields[3] != _LISTEN:
                continue
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port:
                inodes.add(int(fields[9]))
    return inodes


def listening(port: int) -> bool:
    """Something listens on TCP *port* in this network namespace."""
    return bool(listening_inodes(port))


def command_line(pid: int, proc: Path = Path("/proc")) -> str:
    """``/proc/<pid>/cmdline`` as one line ("" when the process is gone)."""
    try:
        raw = (proc / str(pid) / "cmdline").read_bytes()
    except OSError:
        return ""
    return " ".join(part.decode("utf-8", "replace") for part in raw.split(b"\0") if part)


def holders(port: int, proc: Path = Path("/proc")) -> list[PortHolder]:
    """Every process listening on TCP *port*; one holder with pid None when none can be named;
    [] when the port is free."""
    inodes = listening_inodes(port, proc)
    if not inodes:
        return []
    wanted = {f"socket:[{i}]" for i in inodes}
    found: list[PortHolder] = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):  # the process ended, or is not ours to read
            for fd in os.listdir(entry / "fd"):
                with contextlib.suppress(OSError):  # closed meanwhile (listdir's own descriptor, for one)
                    if os.readlink(entry / "fd" / fd) in wanted:
                        pid = int(entry.name)
                        found.append(PortHolder(port, pid, command_line(pid, proc), entry.stat().st_uid))
                        break
    return found or [PortHolder(port, None, "")]


def docker_published(docker: DockerRuntime, project: str) -> set[int]:
    """Host ports the project's running Docker containers publish."""
    ports: set[int] = set()
    for c in docker.client.containers.list(filters={"label": f"{PROJECT_LABEL}={project}"}):
        for bindings in (c.attrs["NetworkSettings"].get("Ports") or {}).values():
            ports |= {int(b["HostPort"]) for b in bindings or []}
    return ports
