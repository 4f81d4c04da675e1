"""docker: the stack runs under Docker again, healthy, on its published ports."""

from __future__ import annotations

import pytest

from podshift.compose.model import ComposeProject
from podshift.rollback.verify import port_problems
from podshift.runtimes import DockerRuntime
from podshift.stack_health import service_problems

pytestmark = [pytest.mark.post_rollback, pytest.mark.category("docker")]


@pytest.mark.severity("critical")
@pytest.mark.check_id("rollback.docker.services-healthy")
def test_every_service_is_running_and_healthy_under_docker(
    rolled_back: ComposeProject, docker_engine: DockerRuntime, evidence
) -> None:
    """Every service runs under Docker, healthy where it has a healthcheck."""
    containers = docker_engine.project_containers(rolled_back.name)
    evidence("containers", ", ".join(f"{c.name}={c.status}/{c.health or '-'}" for c in containers) or "none")
    problems = service_problems(docker_engine, rolled_back)
    assert not problems, (
        f"not every service is up under Docker: {'; '.join(problems)} — "
        f"see `docker compose -p {rolled_back.name} ps` and its logs, then run `podshift rollback` again"
    )


@pytest.mark.severity("critical")
@pytest.mark.check_id("rollback.docker.ports-held-by-docker")
def test_published_ports_are_held_by_docker(rolled_back: ComposeProject, docker_engine: DockerRuntime) -> None:
    """Every published port is held by Docker's proxy, and by nothing else (no Podman leftover)."""
    problems = port_problems(docker_engine, rolled_back)
    assert not problems, f"published ports: {'; '.join(problems)} — stop the process named, then restart the service"
