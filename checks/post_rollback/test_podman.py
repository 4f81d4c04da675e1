"""podman: nothing of the project is left running under Podman."""

from __future__ import annotations

import pytest

from podshift.compose.model import ComposeProject
from podshift.rollback.verify import podman_problems
from podshift.runtimes import PodmanRuntime

pytestmark = [pytest.mark.post_rollback, pytest.mark.category("podman")]


@pytest.mark.severity("critical")
@pytest.mark.check_id("rollback.podman.no-project-container")
def test_no_container_of_the_project_is_left_under_podman(
    rolled_back: ComposeProject, podman_engine: PodmanRuntime
) -> None:
    """No container of the project is left under Podman."""
    problems = podman_problems(podman_engine, rolled_back)
    assert not problems, (
        f"{'; '.join(problems)} — remove them: `podman rm -f` the containers named (their volumes are kept)"
    )
