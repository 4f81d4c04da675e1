"""Who listens on a TCP port of this host, read from /proc (no ss/lsof/netstat needed).

``/proc/net/tcp`` and ``tcp6`` list the listening sockets of this network
namespace with their inode; ``/proc/<pid>/fd`` links name the socket inodes
each process holds.  Reading other users' fd directories needs root: without
it the port is still found, but the holder is unknown.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

_LISTEN = "0A"


@dataclass(frozen=True)
class PortHolder:
    """A process holding a listening TCP socket."""

    port: int
    pid: int | None  # None: the socket exists but no readable process holds it
    command: str  # the process's command line ("" when unknown)

    @property
    def program(self) -> str:
        """The program's base name (``docker-proxy``, ``conmon``, ``rootlessport``, ``python3``)."""
        first = self.command.split(" ", 1)[0]
        return first.rsplit("/", 1)[-1]

    def describe(self) -> str:
        if self.pid is None:
            return f"port {self.port} is held by a process podshift cannot see (run as root to name it)"
        return f"port {self.port} is held by PID {self.pid} ({self.command})"


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


def command_line(pid: int, proc: Path = Path("/proc")) -> str:
    """``/proc/<pid>/cmdline`` as one line ("" when the process is gone)."""
    try:
        raw = (proc / str(pid) / "cmdline").read_bytes()
    except OSError:
        return ""
    return " ".join(part.decode("utf-8", "replace") for part in raw.split(b"\0") if part)


def holders(port: int, proc: Path = Path("/proc")) -> list[PortHolder]:
    """Every process listening on TCP *port*; one holder with pid None when none can be named."""
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
                with contextlib.suppress(OSError):
                    if os.readlink(entry / "fd" / fd) in wanted:
                        found.append(PortHolder(port, int(entry.name), command_line(int(entry.name), proc)))
                        break
    return found or [PortHolder(port, None, "")]
