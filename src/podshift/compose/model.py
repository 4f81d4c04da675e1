"""A Compose project as the Compose tool itself normalizes it.

The model is built from ``docker compose config --format json``: Compose
resolves interpolation, ``extends``, ``include``, overrides, relative paths
and short syntax; podshift never parses YAML itself.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from podshift.commands import run
from podshift.compose.tools import docker_compose_argv
from podshift.errors import ProjectError

#: The file names Compose looks for, in its own order of preference.
COMPOSE_FILE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")


@dataclass(frozen=True)
class PortBinding:
    host_ip: str
    published: int | None
    target: int
    protocol: str = "tcp"


@dataclass(frozen=True)
class VolumeMount:
    type: str  # volume, bind, tmpfs, ...
    source: str
    target: str
    read_only: bool = False
    selinux: str = ""  # "z" / "Z" when requested
    create_host_path: bool = False  # a missing bind source is created by the Compose tool


@dataclass(frozen=True)
class Service:
    """One service, reduced to what migration cares about; ``raw`` keeps the rest."""

    name: str
    image: str | None
    build_context: Path | None
    dockerfile: str | None
    ports: tuple[PortBinding, ...]
    mounts: tuple[VolumeMount, ...]
    networks: tuple[str, ...]
    depends_on: Mapping[str, str]  # service -> condition
    user: str | None
    privileged: bool
    has_healthcheck: bool
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ComposeProject:
    """The normalized project: name, directory, files and services."""

    name: str
    project_dir: Path
    compose_files: tuple[Path, ...]
    services: Mapping[str, Service]
    networks: Mapping[str, Mapping[str, Any]]
    volumes: Mapping[str, Mapping[str, Any]]
    raw: Mapping[str, Any]
    env: Mapping[str, str] = field(default_factory=dict)
    #: What ``docker compose config`` warned about on stderr (e.g. unset variables), one line each.
    compose_warnings: tuple[str, ...] = ()

    @property
    def unset_variables(self) -> list[str]:
        """Variables the compose file uses that are unset and have no default, as Compose itself reports them."""
        return sorted({m.group(1) for w in self.compose_warnings for m in _UNSET_VARIABLE.finditer(w)})

    def volume_name(self, key: str) -> str:
        """The engine-side name of named volume *key* (``<project>_<key>`` unless set)."""
        spec = self.volumes.get(key) or {}
        return str(spec.get("name") or f"{self.name}_{key}")

    def network_name(self, key: str) -> str:
        spec = self.networks.get(key) or {}
        return str(spec.get("name") or f"{self.name}_{key}")

    @property
    def named_volumes(self) -> list[str]:
        """Engine-side names of the project's own (non-external) named volumes."""
        return [self.volume_name(k) for k, spec in self.volumes.items() if not (spec or {}).get("external")]

    @property
    def bind_sources(self) -> list[Path]:
        """Host paths bind-mounted into any service."""
        return sorted({Path(m.source) for s in self.services.values() for m in s.mounts if m.type == "bind"})

    @property
    def published_ports(self) -> list[tuple[str, PortBinding]]:
        return [(s.name, p) for s in self.services.values() for p in s.ports if p.published is not None]

    def start_order(self) -> list[str]:
        """Services ordered so that every service comes after what it depends on."""
        order: list[str] = []
        visiting: set[str] = set()

        def visit(name: str) -> None:
            if name in order:
                return
            if name in visiting:
                raise ProjectError(self.project_dir, f"depends_on cycle through service {name!r}")
            visiting.add(name)
            for dep in sorted(self.services[name].depends_on):
                if dep in self.services:
                    visit(dep)
            visiting.discard(name)
            order.append(name)

        for name in sorted(self.services):
            visit(name)
        return order


#: Compose's own words for an unset variable without a default (compose-go's interpolation warning).
_UNSET_VARIABLE = re.compile(r'The "([A-Za-z_][A-Za-z0-9_]*)" variable is not set')
_LOG_MESSAGE = re.compile(r'msg="((?:[^"\\]|\\.)*)"')


def find_compose_files(project_dir: Path) -> list[Path]:
    """The compose file Compose itself would pick in *project_dir* (plus its override)."""
    for name in COMPOSE_FILE_NAMES:
        main = project_dir / name
        if main.is_file():
            stem, _, ext = name.rpartition(".")
            override = project_dir / f"{stem}.override.{ext}"
            return [main, override] if override.is_file() else [main]
    return []


def find_project_dir(start: Path) -> Path:
    """Where Compose finds the project from *start*: the nearest of it and its parents with a compose file.

    ``docker compose`` run in a subdirectory of a project uses the project's
    compose file; podshift does the same.  With none found, *start* (whose
    load then says which files were looked for).
    """
    start = start.resolve()
    for directory in (start, *start.parents):
        if find_compose_files(directory):
            return directory
    return start


def files_from_environment(env: Mapping[str, str]) -> list[str]:
    """The files ``COMPOSE_FILE`` names, split on ``COMPOSE_PATH_SEPARATOR`` as Compose splits them.

    Compose documents this variable as a list joined by the path separator
    (``:`` here); podshift needs the list itself, because backups and fixes
    act on the files, and hands it back to Compose as ``-f`` options.
    """
    value = env.get("COMPOSE_FILE", "")
    separator = env.get("COMPOSE_PATH_SEPARATOR") or os.pathsep
    return [f for f in value.split(separator) if f]


def _port(raw: Mapping[str, Any]) -> PortBinding:
    published = raw.get("published")
    return PortBinding(
        host_ip=str(raw.get("host_ip") or ""),
        published=int(str(published).split("-")[0]) if published not in (None, "") else None,
        target=int(raw["target"]),
        protocol=str(raw.get("protocol") or "tcp"),
    )


def _mount(raw: Mapping[str, Any]) -> VolumeMount:
    bind = raw.get("bind") or {}
    return VolumeMount(
        type=str(raw.get("type", "")),
        source=str(raw.get("source") or ""),
        target=str(raw.get("target", "")),
        read_only=bool(raw.get("read_only", False)),
        selinux=str(bind.get("selinux") or ""),
        create_host_path=bool(bind.get("create_host_path", False)),
    )


def _service(name: str, raw: Mapping[str, Any]) -> Service:
    build = raw.get("build") or {}
    depends = raw.get("depends_on") or {}
    return Service(
        name=name,
        image=raw.get("image"),
        build_context=Path(build["context"]) if build.get("context") else None,
        dockerfile=build.get("dockerfile"),
        ports=tuple(_port(p) for p in raw.get("ports") or ()),
        mounts=tuple(_mount(m) for m in raw.get("volumes") or ()),
        networks=tuple(raw.get("networks") or ()),
        depends_on={dep: str((spec or {}).get("condition", "service_started")) for dep, spec in depends.items()},
        user=raw.get("user"),
        privileged=bool(raw.get("privileged", False)),
        has_healthcheck=bool(raw.get("healthcheck")) and not (raw.get("healthcheck") or {}).get("disable"),
        raw=raw,
    )


def load_project(
    project_dir: Path | str,
    *,
    compose_files: Sequence[Path | str] = (),
    project_name: str | None = None,
    env: Mapping[str, str] | None = None,
) -> ComposeProject:
    """Load *project_dir*'s compose project through ``docker compose config``.

    The files are *compose_files* (relative ones from the project directory),
    else those ``COMPOSE_FILE`` names (in *env*, else the process environment),
    else the ones Compose looks for in the directory.  The name is
    *project_name*, else what Compose decides (``COMPOSE_PROJECT_NAME``, the
    file's ``name:``, the directory's name).

    Raises :class:`ProjectError` with one clear line when the directory is
    missing, holds no compose file, or the Compose tool rejects the file.
    """
    path = Path(project_dir).expanduser()
    if not path.exists():
        raise ProjectError(path, "no such directory")
    if not path.is_dir():
        raise ProjectError(path, "not a directory")
    path = path.resolve()
    environment = {**os.environ, **(env or {})}
    named = list(compose_files) or files_from_environment(environment)
    files = [Path(f).expanduser() if Path(f).is_absolute() else path / f for f in named] or find_compose_files(path)
    if not files:
        looked = ", ".join(COMPOSE_FILE_NAMES)
        raise ProjectError(path, f"no compose file (looked for {looked}; or name one with -f or COMPOSE_FILE)")
    for f in files:
        if not f.is_file():
            raise ProjectError(path, f"compose file {f} does not exist")
        if not os.access(f, os.R_OK):
            raise ProjectError(path, f"compose file {f} is not readable")
    argv = [*docker_compose_argv(), "--project-directory", str(path)]
    for f in files:
        argv += ["-f", str(f)]
    if project_name:
        argv += ["-p", project_name]
    # Every profile: a service that only starts under a profile still has to migrate.
    argv += ["--profile", "*"]
    result = run([*argv, "config", "--format", "json"], cwd=path, env=env, timeout=60)
    if not result.succeeded:
        first = next((ln for ln in result.stderr.splitlines() if ln.strip()), "the Compose tool rejected it")
        raise ProjectError(path, f"invalid compose file: {first.strip()}")
    try:
        raw: dict[str, Any] = json.loads(result.stdout)
    except json.JSONDecodeError as e:
        raise ProjectError(path, f"`docker compose config` printed no JSON: {e}") from e
    services = {name: _service(name, spec) for name, spec in (raw.get("services") or {}).items()}
    return ComposeProject(
        name=str(raw.get("name") or project_name or path.name),
        project_dir=path,
        compose_files=tuple(files),
        services=services,
        networks=raw.get("networks") or {},
        volumes=raw.get("volumes") or {},
        raw=raw,
        env=dict(env or {}),
        compose_warnings=tuple(_warnings(result.stderr)),
    )


def _warnings(stderr: str) -> list[str]:
    """Compose's warnings, without its logger's time/level prefix."""
    found = []
    for line in stderr.splitlines():
        if "level=warning" in line or line.startswith("WARN"):
            match = _LOG_MESSAGE.search(line)
            found.append(match.group(1).replace('\\"', '"') if match else line.strip())
    return found
