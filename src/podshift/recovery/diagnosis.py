"""``podshift diagnose``: the state of a stack between Docker and Podman, changing nothing.

It reads both engines (versions, running, sockets), the project's containers,
networks and volumes under each (by the Compose project label), who serves
each published port (``/proc`` plus the engines' port bindings), the config
files and volumes against the backup manifest, and the migrate/rollback
journals; :meth:`Diagnosis.problems` turns what is wrong into findings that
each carry the recovery command that fits.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from podshift.backup.store import BackupError, BackupStore, compare_entries
from podshift.backup.tarscan import Entry, comparable, scan
from podshift.compose.model import ComposeProject
from podshift.errors import EngineUnavailable, PodshiftError
from podshift.ports import PortHolder, holders
from podshift.recovery.startup import unhealthy_services
from podshift.runtimes import ContainerInfo, NetworkInfo, PodmanRuntime, Runtime, VolumeInfo
from podshift.steps import JournalCorrupt, StepJournal

#: Programs through which an engine itself publishes a port.
ENGINE_PROXIES = {"docker-proxy": "docker", "conmon": "podman", "rootlessport": "podman", "slirp4netns": "podman"}


@dataclass(frozen=True)
class EngineState:
    """One engine as it answered (or did not)."""

    label: str
    socket: str
    running: bool
    version: str = ""
    api_version: str = ""
    error: str = ""
    hint: str = ""


@dataclass(frozen=True)
class ProjectSide:
    """The project's objects under one engine."""

    engine: str
    containers: tuple[ContainerInfo, ...] = ()
    networks: tuple[NetworkInfo, ...] = ()
    volumes: tuple[VolumeInfo, ...] = ()
    #: published host port -> the running container the engine binds it to
    bindings: dict[int, str] = field(default_factory=dict)
    #: service -> what is wrong with it (Podman only: its healthchecks are driven, see recovery.startup)
    unhealthy: dict[str, str] = field(default_factory=dict)

    @property
    def running(self) -> list[ContainerInfo]:
        return [c for c in self.containers if c.status == "running"]


@dataclass(frozen=True)
class PortState:
    """A published port: who listens, and which engine binds it to one of the project's containers."""

    port: int
    service: str
    holders: tuple[PortHolder, ...]
    docker: str | None  # container name, when Docker binds the port for this project
    podman: str | None

    @property
    def served_by(self) -> str:
        """``docker``, ``podman``, ``nobody``, or ``other`` (a process that is no engine's)."""
        if not self.holders:
            return "nobody"
        engines = {ENGINE_PROXIES.get(h.program) for h in self.holders}
        if engines == {"docker"} and self.docker:
            return "docker"
        if engines == {"podman"} and self.podman:
            return "podman"
        return "other"


@dataclass(frozen=True)
class FileState:
    source: str
    state: str  # unchanged, changed, missing


@dataclass(frozen=True)
class VolumeState:
    name: str
    engine: str  # where it was read ("" when on no engine)
    size: int = 0
    digest: str = ""
    backup_digest: str = ""
    difference: str = ""
    state: str = "matches"  # matches, differs, missing, not-in-backup


@dataclass(frozen=True)
class JournalState:
    name: str
    exists: bool
    finished: bool
    stopped_at: str | None
    error: str = ""


@dataclass(frozen=True)
class Finding:
    """Something wrong, in the diagnosis' words, with the command that fits."""

    area: str  # engines, journals, ports, containers, networks, config, volumes
    severity: str  # critical, warning, info
    what: str
    command: str


@dataclass
class Diagnosis:
    project: ComposeProject
    engines: dict[str, EngineState]
    sides: dict[str, ProjectSide]
    ports: list[PortState]
    journals: list[JournalState]
    backup: str  # "" when a backup was read, else why not
    files: list[FileState]
    volumes: list[VolumeState]
    taken: float = field(default_factory=time.time)

    def problems(self) -> list[Finding]:
        """What is wrong, each with the recovery command that fits."""
        return [
            *_engine_findings(self),
            *_journal_findings(self),
            *_port_findings(self),
            *_side_findings(self),
            *_backup_findings(self),
        ]

    def render(self) -> str:
        """The whole report, for people (reports/diagnosis.txt and the recovery log)."""
        p = self.project
        lines = [f"podshift diagnose: project {p.name} ({p.project_dir})"]
        for key, e in self.engines.items():
            state = f"running, {e.version} (API {e.api_version})" if e.running else f"NOT running: {e.error}"
            lines.append(f"engine {key}: {e.label} at {e.socket}: {state}")
        for key, side in self.sides.items():
            containers = ", ".join(f"{c.name}={c.status}/{c.health or '-'}" for c in side.containers) or "none"
            lines.append(f"{key} containers: {containers}")
            nets = ", ".join(f"{n.name} {'/'.join(n.subnets) or '-'}" for n in side.networks) or "none"
            lines.append(f"{key} networks: {nets}")
            lines.append(f"{key} volumes: {', '.join(v.name for v in side.volumes) or 'none'}")
        for port in self.ports:
            who = "; ".join(h.describe() for h in port.holders) or f"port {port.port}: nobody listens"
            lines.append(f"port {port.port} ({port.service}): served by {port.served_by}: {who}")
        for j in self.journals:
            if j.error:
                lines.append(f"journal {j.name}: {j.error}")
            elif not j.exists:
                lines.append(f"journal {j.name}: none")
            else:
                lines.append(f"journal {j.name}: {'finished' if j.finished else f'stopped at {j.stopped_at}'}")
        if self.backup:
            lines.append(f"backup: {self.backup}")
        for f in self.files:
            lines.append(f"config {f.source}: {f.state}")
        for v in self.volumes:
            extra = f": {v.difference}" if v.difference else ""
            lines.append(
                f"volume {v.name} ({v.engine or 'no engine'}): {v.size} bytes, digest {v.digest[:16] or '-'}"
                f", backup {v.backup_digest[:16] or '-'}: {v.state}{extra}"
            )
        problems = self.problems()
        lines.append(f"{len(problems)} problem(s)")
        for finding in problems:
            lines.append(f"  [{finding.severity}] {finding.what}; do: {finding.command}")
        return "\n".join(lines) + "\n"


# -- gathering ---------------------------------------------------------------------------------------
def engine_state(runtime: Runtime) -> EngineState:
    """Whether *runtime* answers, and its version."""
    try:
        runtime.ping()
        version, api = runtime.version()
    except EngineUnavailable as e:
        return EngineState(runtime.label, runtime.socket, False, error=e.reason, hint=e.hint)
    except PodshiftError as e:
        return EngineState(runtime.label, runtime.socket, False, error=str(e))
    return EngineState(runtime.label, runtime.socket, True, version, api)


def _went_away(runtime: Runtime, e: BaseException) -> EngineState:
    return EngineState(runtime.label, runtime.socket, False, error=f"stopped answering during the diagnosis ({e})")


def port_bindings(runtime: Runtime, containers: Iterable[ContainerInfo]) -> dict[int, str]:
    """Host port -> container name, for the running *containers* (the engine's own port bindings)."""
    bound: dict[int, str] = {}
    client: Any = getattr(runtime, "client")  # noqa: B009 - both runtimes expose their API client
    for c in containers:
        if c.status != "running":
            continue
        attrs = client.containers.get(c.id).attrs
        ports = (
            (attrs.get("NetworkSettings") or {}).get("Ports")
            or (attrs.get("HostConfig") or {}).get("PortBindings")
            or {}
        )
        for bindings in ports.values():
            for b in bindings or ():
                if str(b.get("HostPort", "")).isdigit():
                    bound[int(b["HostPort"])] = c.name
    return bound


def project_side(runtime: Runtime, project: ComposeProject) -> ProjectSide:
    """The project's containers, networks, volumes and port bindings under *runtime* (which answers)."""
    containers = tuple(runtime.project_containers(project.name))
    unhealthy: dict[str, str] = {}
    if isinstance(runtime, PodmanRuntime) and containers:
        # Without systemd no timer runs Podman's healthchecks (health stays "starting"):
        # running the check once is the only way to know; it changes no container.
        unhealthy = unhealthy_services(runtime, project)
    return ProjectSide(
        unhealthy=unhealthy,
        engine=runtime.label,
        containers=containers,
        networks=tuple(runtime.project_networks(project.name)),
        volumes=tuple(runtime.project_volumes(project.name)),
        bindings=port_bindings(runtime, containers),
    )


def content_digest(entries: Iterable[Entry]) -> str:
    """A digest of a volume's content as the backup manifest compares it (paths, types, modes, owners, hashes)."""
    body = json.dumps(sorted(comparable(entries).items()), separators=(",", ":")).encode()
    return hashlib.sha256(body).hexdigest()


def journal_state(project_dir: Path, name: str) -> JournalState:
    try:
        journal = StepJournal.open(project_dir, name)
    except JournalCorrupt as e:
        return JournalState(name, True, False, None, error=str(e))
    return JournalState(name, journal.exists(), journal.finished(), journal.stopped_at())


def _file_states(store: BackupStore) -> list[FileState]:
    states = []
    for c in store.manifest().config:
        path = Path(c.source)
        if c.link:  # a symlinked config file is backed up as the link
            same = path.is_symlink() and os.readlink(path) == c.link
            states.append(FileState(c.source, "unchanged" if same else "changed" if path.exists() else "missing"))
            continue
        if not path.is_file():
            states.append(FileState(c.source, "missing"))
            continue
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        states.append(FileState(c.source, "unchanged" if digest == c.sha256 else "changed"))
    return states


def _volume_states(store: BackupStore, runtimes: dict[str, Runtime], project: ComposeProject) -> list[VolumeState]:
    archives = {a.name: a for a in store.manifest().archives if a.kind == "volume"}
    states = []
    for name in sorted(set(project.named_volumes) | set(archives)):
        archive = archives.get(name)
        backup_digest = content_digest(archive.entries) if archive else ""
        found = False
        for key, runtime in runtimes.items():
            if runtime.volume(name) is None:
                continue
            found = True
            entries = scan(runtime.volume_export(name), archive=f"{runtime.label}:{name}", safe=False).entries
            size = sum(e.size for e in entries if e.type == "file")
            digest = content_digest(entries)
            if archive is None:
                states.append(VolumeState(name, key, size, digest, state="not-in-backup"))
                continue
            difference = compare_entries(archive.entries, entries)
            state = "differs" if difference else "matches"
            states.append(VolumeState(name, key, size, digest, backup_digest, difference, state))
        if not found:
            states.append(VolumeState(name, "", backup_digest=backup_digest, state="missing"))
    return states


def diagnose(project: ComposeProject, runtimes: dict[str, Runtime], *, volumes: bool = True) -> Diagnosis:
    """Everything ``podshift diagnose`` reports, read from *runtimes* (``docker``/``podman``); changes nothing."""
    engines = {key: engine_state(rt) for key, rt in runtimes.items()}
    live = {key: rt for key, rt in runtimes.items() if engines[key].running}
    sides: dict[str, ProjectSide] = {}
    for key, rt in list(live.items()):
        try:
            sides[key] = project_side(rt, project)
        except (PodshiftError, OSError) as e:  # requests' errors are OSErrors: the engine went away meanwhile
            engines[key] = _went_away(rt, e)
            del live[key]
    ports = [
        PortState(
            port=binding.published,
            service=service,
            holders=tuple(holders(binding.published)),
            docker=sides["docker"].bindings.get(binding.published) if "docker" in sides else None,
            podman=sides["podman"].bindings.get(binding.published) if "podman" in sides else None,
        )
        for service, binding in project.published_ports
        if binding.published is not None
    ]
    journals = [journal_state(project.project_dir, name) for name in ("migrate", "rollback")]
    store = BackupStore(project.project_dir)
    backup, files, vols = "", [], []
    if not store.exists():
        backup = f"no backup at {store.path}"
    else:
        try:
            files = _file_states(store)
            if volumes:
                vols = _volume_states(store, live, project)
        except (BackupError, PodshiftError) as e:
            backup = str(e)
        except OSError as e:  # an engine stopped answering while its volumes were read
            backup = f"volumes could not be read: {e}"
    return Diagnosis(project, engines, sides, ports, journals, backup, files, vols)


# -- findings ---------------------------------------------------------------------------------------
def _engine_findings(d: Diagnosis) -> list[Finding]:
    return [
        Finding("engines", "critical", f"{e.label} is not running at {e.socket}: {e.error}", e.hint or "start it")
        for e in d.engines.values()
        if not e.running
    ]


def _journal_findings(d: Diagnosis) -> list[Finding]:
    found = []
    where = f"--project-dir {d.project.project_dir}"
    for j in d.journals:
        if j.error:
            found.append(
                Finding("journals", "critical", j.error, f"move {j.name}.json aside, then `podshift diagnose`")
            )
        elif j.exists and not j.finished:
            at = f"stopped at step {j.stopped_at}" if j.stopped_at else "did not finish"
            if j.name == "migrate":
                command = f"`podshift migrate {where}` (resumes at {j.stopped_at}) or `podshift rollback {where}`"
            else:
                command = f"`podshift rollback {where}` (resumes at {j.stopped_at})"
            found.append(Finding("journals", "critical", f"the {j.name} {at}", command))
    return found


def _port_findings(d: Diagnosis) -> list[Finding]:
    found = []
    recover = f"`podshift recover failed-startup --project-dir {d.project.project_dir}`"
    for p in d.ports:
        if p.served_by == "other":
            who = "; ".join(h.describe() for h in p.holders)
            found.append(Finding("ports", "critical", f"service {p.service}: {who}, not by the project", recover))
        elif p.served_by == "nobody" and any(s.containers for s in d.sides.values()):
            found.append(
                Finding("ports", "critical", f"service {p.service}: nothing listens on port {p.port}", recover)
            )
    return found


def _side_findings(d: Diagnosis) -> list[Finding]:
    found = []
    where = f"--project-dir {d.project.project_dir}"
    running = [key for key, s in d.sides.items() if s.running]
    if len(running) > 1:
        found.append(
            Finding(
                "containers",
                "critical",
                f"the project runs under both engines ({', '.join(running)}): they compete for its ports and subnet",
                f"stop the side you left: `docker compose -p {d.project.name} stop`, or `podshift rollback {where}`",
            )
        )
    podman = d.sides.get("podman")
    if podman is not None and podman.containers:
        if podman.unhealthy:
            states = ", ".join(f"service {s}: {what}" for s, what in podman.unhealthy.items())
            found.append(
                Finding(
                    "containers",
                    "critical",
                    f"under {podman.engine}: {states}",
                    f"`podshift recover failed-startup {where}`",
                )
            )
        declared = {
            d.project.network_name(k) for k, spec in d.project.networks.items() if not (spec or {}).get("external")
        }
        missing = sorted(declared - {n.name for n in podman.networks})
        if missing:
            found.append(
                Finding(
                    "networks",
                    "critical",
                    f"under {podman.engine}: network(s) {', '.join(missing)} missing",
                    f"`podshift recover network-issues {where}`",
                )
            )
    return found


def _backup_findings(d: Diagnosis) -> list[Finding]:
    where = f"--project-dir {d.project.project_dir}"
    if d.backup:
        return [Finding("config", "warning", d.backup, f"`podshift backup {where}`")]
    found = []
    backup_dir = BackupStore(d.project.project_dir).path
    for f in d.files:
        if f.state != "unchanged":
            found.append(
                Finding(
                    "config",
                    "warning",
                    f"{f.source} is {f.state} since the backup",
                    f"compare with the copy under {backup_dir}/config/ and put it back if unintended",
                )
            )
    for v in d.volumes:
        if v.state == "missing":
            found.append(
                Finding(
                    "volumes",
                    "critical",
                    f"volume {v.name} is in the backup but on no engine",
                    f"`podshift recover volume-issues {where}`",
                )
            )
        elif v.state == "differs":
            found.append(
                Finding(
                    "volume-data",
                    "info",
                    f"volume {v.name} ({v.engine}) differs from the backup: {v.difference}",
                    "expected when the application wrote since the backup; else `podshift recover volume-issues`",
                )
            )
    return found
