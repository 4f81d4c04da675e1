"""Who holds a published port: the process, by PID and name, from the kernel's own tables in /proc.

A Podman stack that was not stopped cleanly can leave ``rootlessport``,
``conmon`` or ``slirp4netns`` listening on the project's ports; Docker then
fails to start with a bare "address already in use".  Naming the process
(and whether it is one of Podman's) turns that into something to act on.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from podshift.runtimes.base import PROJECT_LABEL
from podshift.runtimes.docker import DockerRuntime

#: Processes of Podman's that hold a container's published port.
PODMAN_PROCESSES = ("rootlessport", "rootlessport-child", "conmon", "slirp4netns", "podman", "pasta")
DOCKER_PROCESSES = ("docker-proxy", "dockerd")
_LISTEN = "0A"


@dataclass(frozen=True)
class Holder:
    pid: int
    name: str
    user: int

    @property
    def is_podman(self) -> bool:
        return self.name in PODMAN_PROCESSES

    @property
    def is_docker(self) -> bool:
        return self.name in DOCKER_PROCESSES

    def describe(self) -> str:
        return f"{self.name} (PID {self.pid}, uid {self.user})"


def _listening_inodes(port: int) -> set[str]:
    """Socket inodes listening on TCP *port* on any address (IPv4 and IPv6)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10 or fields[3] != _LISTEN:
                continue
            if int(fields[1].rpartition(":")[2], 16) == port:
                inodes.add(fields[9])
    return inodes


def holders(port: int) -> list[Holder]:
    """The processes listening on TCP *port* (empty when it is free, or when their /proc is not readable)."""
    inodes = {f"socket:[{i}]" for i in _listening_inodes(port)}
    if not inodes:
        return []
    found = []
    for pid in (p for p in os.listdir("/proc") if p.isdigit()):
        fd_dir = f"/proc/{pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue  # gone, or not ours to read
        links = set()
        for fd in fds:
            try:
                links.add(os.readlink(f"{fd_dir}/{fd}"))
            except OSError:
                continue  # closed meanwhile (listdir's own descriptor, for one)
        if links & inodes:
            try:
                name = Path(f"/proc/{pid}/comm").read_text().strip()
                uid = os.stat(f"/proc/{pid}").st_uid
            except OSError:
                continue
            found.append(Holder(int(pid), name, uid))
    return found


def listening(port: int) -> bool:
    return bool(_listening_inodes(port))


def docker_published(docker: DockerRuntime, project: str) -> set[int]:
    """Host ports the project's running Docker containers publish."""
    ports: set[int] = set()
    for c in docker.client.containers.list(filters={"label": f"{PROJECT_LABEL}={project}"}):
        for bindings in (c.attrs["NetworkSettings"].get("Ports") or {}).values():
            ports |= {int(b["HostPort"]) for b in bindings or []}
    return ports
