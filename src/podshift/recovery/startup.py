"""failed-startup: what keeps a Podman stack from starting, read from the engine and /proc.

- a published port held by a process that is not this project's container
  (named with PID and command; a ``conmon``/``rootlessport`` left by one of
  this project's dead containers is the only holder podshift removes);
- a container whose name podman-compose wants (``<project>_<service>_1`` or
  ``container_name``) but which it does not manage: podman refuses with
  "the container name ... is already in use" (podman-compose#1118);
- a published port below ``net.ipv4.ip_unprivileged_port_start`` under rootless
  Podman: ``rootlessport`` may not bind it (podman#13426), repaired through the
  existing ``unprivileged-port-start`` fix;
- a service that does not become healthy (its last log lines tell why).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from podshift.compose.model import ComposeProject
from podshift.images import HELPER_IMAGE, ensure_helper_image
from podshift.ports import PortHolder, command_line, holders
from podshift.recovery.engines import podman
from podshift.runtimes import PROJECT_LABEL, PodmanRuntime

#: podman-compose's own label: containers without it are not recreated by ``podman-compose up``.
PODMAN_COMPOSE_LABEL = "io.podman.compose.project"


@dataclass(frozen=True)
class NamedContainer:
    """A container as ``podman ps -a`` lists it."""

    id: str
    name: str
    state: str
    image: str
    labels: dict[str, str]

    def belongs_to(self, project: str) -> bool:
        return self.labels.get(PROJECT_LABEL) == project or self.labels.get(PODMAN_COMPOSE_LABEL) == project


def expected_names(project: ComposeProject) -> dict[str, str]:
    """Container name -> service, as podman-compose names them (``container_name`` or ``<project>_<svc>_1``)."""
    return {
        str(svc.raw.get("container_name") or f"{project.name}_{name}_1"): name for name, svc in project.services.items()
    }


def all_containers(runtime: PodmanRuntime) -> list[NamedContainer]:
    """Every container of the engine (the CLI: names and labels as podman itself reports them)."""
    listed = json.loads(podman(runtime, "ps", "-a", "--format", "json", timeout=120).check().stdout or "[]")
    return [
        NamedContainer(
            id=str(c.get("Id", "")),
            name=str((c.get("Names") or [""])[0]),
            state=str(c.get("State", "")),
            image=str(c.get("Image", "")),
            labels=dict(c.get("Labels") or {}),
        )
        for c in listed
    ]


def name_holders(runtime: PodmanRuntime, project: ComposeProject) -> list[NamedContainer]:
    """Containers holding a name podman-compose wants for this project, other than the running stack itself."""
    wanted = expected_names(project)
    return [
        c
        for c in all_containers(runtime)
        if c.name in wanted and not (c.state == "running" and c.labels.get(PODMAN_COMPOSE_LABEL) == project.name)
    ]


def project_containers(runtime: PodmanRuntime, project: ComposeProject) -> list[NamedContainer]:
    """Containers labelled with this project, or holding one of its names while labelled with it."""
    return [c for c in all_containers(runtime) if c.belongs_to(project.name)]


def unhealthy_services(runtime: PodmanRuntime, project: ComposeProject, *, drive: bool = True) -> dict[str, str]:
    """Service -> what is wrong ("not running", "exited", "unhealthy"), empty when every service is up and healthy.

    With *drive*, a ``starting`` healthcheck is run once (``podman healthcheck run``): without
    systemd no timer runs it and health stays ``starting`` forever (podman#19326).
    """
    by_service: dict[str, list[str]] = {}
    for c in runtime.project_containers(project.name):
        if c.service is None:
            continue
        problem = ""
        if c.status != "running":
            problem = f"{c.name} is {c.status}"
        elif c.health not in (None, "healthy") and not (
            drive and podman(runtime, "healthcheck", "run", c.name, timeout=60).succeeded
        ):
            problem = f"{c.name} is {c.health}"
        by_service.setdefault(c.service, []).append(problem)
    wrong: dict[str, str] = {}
    for name in project.services:
        problems = by_service.get(name)
        if not problems:
            wrong[name] = "no container"
        elif any(problems):
            wrong[name] = ", ".join(p for p in problems if p)
    return wrong


def log_tail(runtime: PodmanRuntime, container: str, lines: int = 12) -> str:
    result = podman(runtime, "logs", "--tail", str(lines), container, timeout=60)
    text = (result.stdout + result.stderr).strip()
    return text or "(no log output)"


@dataclass(frozen=True)
class PortUse:
    """A holder of a published port, and what podshift makes of it."""

    service: str
    holder: PortHolder
    kind: str  # "ours" (a running container of this project), "leftover" (of a dead one), "docker", "foreign"
    container: str = ""

    def describe(self) -> str:
        what = self.holder.describe()
        if self.kind == "docker":
            return f"{what}: Docker still publishes it for service {self.service}"
        if self.kind == "leftover":
            return f"{what}: left by container {self.container}, which no longer runs"
        return f"{what}, needed by service {self.service}"


def _netns_of(pid: int, proc: Path = Path("/proc")) -> str:
    """The network namespace file a process holds open ('' if none): rootless Podman's ``rootlessport``
    keeps its container's namespace (``/run/user/UID/netns/netns-...``) open, which names the container.
    """
    try:
        fds = os.listdir(proc / str(pid) / "fd")
    except OSError:
        return ""
    for fd in fds:
        with contextlib.suppress(OSError):
            link = os.readlink(proc / str(pid) / "fd" / fd)
            if "/netns/" in link:
                return link
    return ""


def _pipes(pid: int, proc: Path = Path("/proc")) -> set[str]:
    """The pipes (``pipe:[INODE]``) a process holds open."""
    found = set()
    with contextlib.suppress(OSError):
        for fd in os.listdir(proc / str(pid) / "fd"):
            with contextlib.suppress(OSError):
                link = os.readlink(proc / str(pid) / "fd" / fd)
                if link.startswith("pipe:"):
                    found.add(link)
    return found


def _sandboxes(runtime: PodmanRuntime, names: list[str]) -> dict[str, str]:
    """Network namespace path -> container name, for the containers *names* (Podman's ``SandboxKey``)."""
    if not names:
        return {}
    result = podman(runtime, "inspect", "--format", "{{.NetworkSettings.SandboxKey}} {{.Name}}", *names, timeout=120)
    found = {}
    for line in result.stdout.splitlines():
        key, _, name = line.strip().partition(" ")
        if key and name:
            found[key] = name
    return found


def _conmon_container(command: str) -> str:
    """The container name a conmon command line serves (``-n NAME`` / ``--name NAME``)."""
    args = command.split()
    for flag in ("-n", "--name"):
        if flag in args and args.index(flag) + 1 < len(args):
            return args[args.index(flag) + 1]
    return ""


#: Container states (``podman ps -a``) in which no conmon should be left for the container.
DEAD_STATES = frozenset({"created", "configured", "exited", "stopped", "dead"})


@dataclass(frozen=True)
class LeftoverMonitor:
    """A ``conmon`` still alive for a container of this project that no longer runs."""

    pid: int
    command: str
    container: str

    def describe(self) -> str:
        return f"PID {self.pid} (conmon of container {self.container}, which no longer runs)"


def leftover_monitors(
    runtime: PodmanRuntime, project: ComposeProject, proc: Path = Path("/proc")
) -> list[LeftoverMonitor]:
    """conmon processes of the engine's user that serve a container of this project Podman says is not running.

    A conmon that hung (seen: stopped, its container killed) never writes the exit
    file: ``podman stop`` times out ("timed out waiting for file .../exits/ID"), marks
    the container Exited (-1), and the conmon with its ``rootlessport`` keeps the ports.
    """
    uid = runtime.run_as.uid if runtime.run_as is not None else os.geteuid()
    mine = project_containers(runtime, project)
    # A paused or running container's conmon is alive by right; a created one has none yet.
    alive = {c.name for c in mine if c.state not in DEAD_STATES}
    ours = (set(expected_names(project)) | {c.name for c in mine}) - alive
    found = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if entry.stat().st_uid != uid:
                continue
            command = command_line(int(entry.name), proc)
            if command.split(" ", 1)[0].rsplit("/", 1)[-1] != "conmon":
                continue
            name = _conmon_container(command)
            if name in ours:
                found.append(LeftoverMonitor(int(entry.name), command, name))
    return found


def port_uses(runtime: PodmanRuntime, project: ComposeProject) -> list[PortUse]:
    """Who holds each of the project's published ports, classified."""
    running = {c.name for c in runtime.project_containers(project.name) if c.status == "running"}
    mine = project_containers(runtime, project)
    ours = set(expected_names(project)) | {c.name for c in mine}
    sandboxes: dict[str, str] | None = None
    monitors: list[LeftoverMonitor] | None = None
    uses = []
    for service, binding in project.published_ports:
        if binding.published is None:
            continue
        for h in holders(binding.published):
            program, name = h.program, ""
            if program == "rootlessport" and h.pid is not None:
                if sandboxes is None:
                    sandboxes = _sandboxes(runtime, [c.name for c in mine])
                name = sandboxes.get(_netns_of(h.pid), "")
                if not name:
                    # Its container is gone (``podman rm`` after a hung conmon): rootlessport still shares
                    # the pipe it watches for its conmon's exit with that conmon, whose -n names the container.
                    if monitors is None:
                        monitors = leftover_monitors(runtime, project)
                    pipes = _pipes(h.pid)
                    name = next((m.container for m in monitors if pipes & _pipes(m.pid)), "")
            elif program == "conmon":
                name = _conmon_container(h.command)
            if program == "docker-proxy":
                kind = "docker"
            elif name and name in running:
                kind = "ours"
            elif name and name in ours:
                kind = "leftover"
            else:
                kind = "foreign"
            uses.append(PortUse(service, h, kind, name))
    return uses


#: The sysctl below which a port is privileged (per network namespace; rootlessport binds in the host's).
PORT_START = Path("/proc/sys/net/ipv4/ip_unprivileged_port_start")


def unprivileged_port_start(path: Path = PORT_START) -> int:
    """``net.ipv4.ip_unprivileged_port_start`` of this host (1024 when it cannot be read: the kernel default)."""
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return 1024


def privileged_ports(runtime: PodmanRuntime, project: ComposeProject, start: int | None = None) -> dict[int, str]:
    """Published port -> service, for the ports a rootless Podman may not bind (none under rootful Podman)."""
    if not runtime.rootless:
        return {}
    limit = unprivileged_port_start() if start is None else start
    return {
        binding.published: service
        for service, binding in project.published_ports
        if binding.published is not None and binding.published < limit
    }


def port_refusal(runtime: PodmanRuntime, port: int) -> str:
    """What Podman says when a container publishes *port* ('' when it can): a throwaway probe container."""
    ensure_helper_image(runtime)
    name = f"podshift-port-probe-{secrets.token_hex(4)}"
    result = podman(
        runtime, "run", "--rm", "--pull=never", "--name", name, "-p", f"127.0.0.1:{port}:{port}", HELPER_IMAGE, "true",
        timeout=120,
    )  # fmt: skip
    podman(runtime, "rm", "-f", "--ignore", name, timeout=60)  # a failed start can leave it created
    if result.succeeded:
        return ""
    lines = [ln for ln in result.stderr.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else f"exit {result.rc}"
