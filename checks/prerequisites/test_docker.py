"""docker: the source engine, its Compose tool and the project's resources on it."""

from __future__ import annotations

import shutil

import pytest

from podshift.compose.model import ComposeProject
from podshift.compose.tools import docker_compose_argv
from podshift.errors import EngineUnavailable, ToolMissing
from podshift.runtimes import DockerRuntime

from ..conftest import version_tuple

pytestmark = [pytest.mark.prerequisites, pytest.mark.category("docker")]


@pytest.mark.severity("critical")
def test_docker_cli_is_installed(evidence) -> None:
    """The docker CLI is installed."""
    path = shutil.which("docker")
    evidence("docker", path)
    assert path, "the docker CLI is not on PATH: install Docker (apt-get install docker.io / dnf install docker-ce)"


@pytest.mark.severity("critical")
def test_docker_daemon_answers(evidence) -> None:
    """The Docker daemon answers on its socket."""
    runtime = DockerRuntime()
    try:
        runtime.ping()
    except EngineUnavailable as e:
        pytest.fail(str(e), pytrace=False)
    finally:
        runtime.close()
    evidence("address", runtime.address)


@pytest.mark.severity("critical")
def test_docker_engine_is_recent_enough(docker: DockerRuntime, thresholds, evidence) -> None:
    """The Docker engine is recent enough to migrate from."""
    version = docker.info().version
    evidence("engine", version)
    want = ".".join(map(str, thresholds.min_docker))
    assert version_tuple(version) >= thresholds.min_docker, (
        f"Docker engine {version} is older than {want}: upgrade Docker before migrating"
    )


@pytest.mark.severity("critical")
def test_compose_v2_is_available(evidence) -> None:
    """Docker Compose v2 is available (the project's containers are managed with it)."""
    try:
        argv = docker_compose_argv()
    except ToolMissing as e:
        pytest.fail(str(e), pytrace=False)
    evidence("compose", " ".join(argv))


@pytest.mark.severity("warning")
def test_project_is_running_on_docker(docker: DockerRuntime, project: ComposeProject, evidence) -> None:
    """The project's containers and volumes are found on Docker."""
    containers = docker.project_containers(project.name)
    volumes = {v.name for v in docker.project_volumes(project.name)}
    evidence("containers", ", ".join(f"{c.name}={c.status}" for c in containers) or "none")
    evidence("volumes", ", ".join(sorted(volumes)) or "none")
    missing = sorted(set(project.named_volumes) - volumes)
    assert containers, (
        f"no containers of project {project.name!r} on Docker (not running): its volumes "
        f"{'are missing: ' + ', '.join(missing) if missing else 'can still be migrated'}; start it with "
        "`docker compose up -d` to verify it before migrating"
    )
    stopped = [c.name for c in containers if c.status != "running"]
    assert not stopped, f"containers not running: {', '.join(stopped)} — start them to verify the stack first"


@pytest.mark.severity("warning")
def test_docker_reports_no_warnings(docker: DockerRuntime, evidence) -> None:
    """`docker info` reports no warnings."""
    warnings = docker.info().warnings
    for w in warnings:
        evidence("docker info", w)
    assert not warnings, "docker info warns:\n" + "\n".join(warnings)
