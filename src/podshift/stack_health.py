"""Is the project's stack up? Its services' containers on one engine, and its published ports.

Migration (Podman side), rollback (Docker side) and their checks ask the same
two questions; each function returns the problems found, [] when all is well.
"""

from __future__ import annotations

import contextlib
import socket

from podshift.compose.model import ComposeProject, PortBinding
from podshift.runtimes.base import Runtime


def service_problems(runtime: Runtime, project: ComposeProject, *, image_healthchecks: bool = True) -> list[str]:
    """Every service has a container running on *runtime*, healthy where a healthcheck applies.

    ``image_healthchecks=False`` judges health only for services whose compose
    file declares a healthcheck: Podman without systemd never runs the
    HEALTHCHECK an image brings on its own, so such a container stays
    "starting" for ever although it serves.
    """
    containers = runtime.project_containers(project.name)
    problems = []
    for name in project.start_order():
        mine = [c for c in containers if c.service == name]
        if not mine:
            problems.append(f"{name}: no container under {runtime.label}")
        for c in mine:
            judged = image_healthchecks or project.services[name].has_healthcheck
            if c.status != "running":
                problems.append(f"{name}: {c.name} is {c.status}")
            elif judged and c.health not in (None, "healthy"):
                problems.append(f"{name}: {c.name} is {c.health}")
    return problems


def tcp_endpoints(project: ComposeProject) -> list[tuple[str, str, int]]:
    """``(service, host, port)`` of every published TCP port; a bind-all address is probed on 127.0.0.1."""
    found = []
    for service, p in project.published_ports:
        if p.protocol != "tcp" or p.published is None:
            continue
        found.append((service, _probe_host(p), p.published))
    return found


def _probe_host(p: PortBinding) -> str:
    return p.host_ip if p.host_ip not in ("", "0.0.0.0", "::") else "127.0.0.1"  # noqa: S104 - the wildcard


def endpoint_problem(host: str, port: int, timeout: float = 3) -> str | None:
    """None when *host:port* accepts a connection (an HTTP service is sent a GET of /), else why not."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(f"GET / HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
            # Any answer will do; no answer in time: not HTTP, but it accepted the connection.
            with contextlib.suppress(TimeoutError):
                s.recv(16)
    except OSError as e:
        return e.strerror or str(e)
    return None


def endpoint_problems(project: ComposeProject, timeout: float = 3) -> list[str]:
    """Every published TCP port of the project accepts a connection."""
    problems = []
    for service, host, port in tcp_endpoints(project):
        why = endpoint_problem(host, port, timeout)
        if why:
            problems.append(f"{service}: {host}:{port} does not answer ({why})")
    return problems
