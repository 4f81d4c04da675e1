"""docker: nothing of the project runs under Docker any more (its containers stay, stopped)."""

from __future__ import annotations

import pytest

from podshift.compose.model import ComposeProject
from podshift.migration.stack import running
from podshift.runtimes import DockerRuntime

pytestmark = [pytest.mark.post_migration, pytest.mark.category("docker")]


@pytest.mark.severity("critical")
@pytest.mark.check_id("postmigration.nothing-left-on-docker")
def test_no_project_container_runs_under_docker(
    migrated: ComposeProject, docker_engine: DockerRuntime, evidence
) -> None:
    """No container of the project is running under Docker (they stay, stopped, for a fast way back)."""
    containers = docker_engine.project_containers(migrated.name)
    evidence("docker containers", ", ".join(f"{c.name}={c.status}" for c in containers) or "none")
    up = running(containers)
    assert not up, (
        f"still running under Docker: {', '.join(c.name for c in up)} — both engines serve the project: "
        f"`docker compose -p {migrated.name} stop`"
    )
