"""docker: the source engine, its Compose tool and the project's resources on it."""

from __future__ import annotations

import shutil

import pytest

from podshift.compose.model import ComposeProject
from podshift.compose.tools import compose_tools, docker_compose_argv, users_docker_compose
from podshift.errors import EngineUnavailable, ToolMissing
from podshift.migration.leftovers import layer_changes
from podshift.runtimes import DockerRuntime

from ..conftest import version_tuple

pytestmark = [pytest.mark.prerequisites, pytest.mark.category("docker")]


@pytest.mark.check_id("docker.cli-installed")
@pytest.mark.severity("critical")
def test_docker_cli_is_installed(evidence) -> None:
    """The docker CLI is installed."""
    path = shutil.which("docker")
    evidence("docker", path)
    assert path, "the docker CLI is not on PATH: install Docker (apt-get install docker.io / dnf install docker-ce)"


@pytest.mark.check_id("docker.daemon-answers")
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


@pytest.mark.check_id("docker.engine-version")
@pytest.mark.severity("critical")
def test_docker_engine_is_recent_enough(docker: DockerRuntime, thresholds, evidence) -> None:
    """The Docker engine is recent enough to migrate from."""
    version = docker.info().version
    evidence("engine", version)
    want = ".".join(map(str, thresholds.min_docker))
    assert version_tuple(version) >= thresholds.min_docker, (
        f"Docker engine {version} is older than {want}: upgrade Docker before migrating"
    )


@pytest.mark.check_id("docker.compose-v2")
@pytest.mark.severity("critical")
def test_compose_v2_is_available(evidence) -> None:
    """Docker Compose v2 is available to podshift (the project's containers are managed with it)."""
    try:
        argv = docker_compose_argv()
    except ToolMissing as e:
        pytest.fail(str(e), pytrace=False)
    evidence("podshift uses", " ".join(argv))
    evidence("on your PATH", users_docker_compose() or "none")


@pytest.mark.check_id("docker.compose-v2-on-path")
@pytest.mark.severity("info")
def test_compose_v2_is_on_the_users_path(evidence) -> None:
    """You have Docker Compose v2 on your PATH (to manage the stack by hand, as podshift does)."""
    try:
        tools = compose_tools("docker")
    except ToolMissing:
        pytest.skip("podshift has none either; see 'Docker Compose v2 is available'")
    evidence("podshift uses", tools.podshift_uses)
    evidence("on your PATH", tools.on_users_path or "none")
    assert tools.on_users_path, (
        f"podshift uses {tools.podshift_uses} (its own copy); you have no {tools.name} on your PATH — to run the "
        "stack by hand install the docker-compose-plugin package (`docker compose`), or call podshift's copy "
        "by its path"
    )


@pytest.mark.check_id("docker.project-running")
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


@pytest.mark.check_id("docker.no-warnings")
@pytest.mark.severity("warning")
def test_docker_reports_no_warnings(docker: DockerRuntime, evidence) -> None:
    """`docker info` reports no warnings."""
    warnings = docker.info().warnings
    for w in warnings:
        evidence("docker info", w)
    assert not warnings, "docker info warns:\n" + "\n".join(warnings)


@pytest.mark.check_id("docker.writes-outside-volumes")
@pytest.mark.severity("warning")
def test_containers_wrote_nothing_outside_volumes(docker: DockerRuntime, project: ComposeProject, evidence) -> None:
    """No running container of the project wrote files outside its volumes (they would stay behind)."""
    changed = layer_changes(docker, project.name)
    found = []
    for container in sorted({c.name for c in docker.project_containers(project.name) if c.status == "running"}):
        leaves = changed.get(container, [])
        evidence(container, len(leaves))
        if leaves:
            more = f" and {len(leaves) - 8} more" if len(leaves) > 8 else ""
            found.append(f"{container}: {', '.join(leaves[:8])}{more}")
    assert not found, (
        f"containers changed files in their own layer, outside any volume: {'; '.join(found)} — the migration "
        "moves volumes and images, not container layers, so these stay behind: put them on a volume, or "
        "`docker cp` them out before migrating"
    )
