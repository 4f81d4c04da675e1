"""volume-issues: bind mounts as the container user sees them, SELinux labels, the project's volumes."""

from __future__ import annotations

import pytest

from podshift.compose.model import ComposeProject
from podshift.recovery.volumes import probe_mounts, selinux_problems, volume_gaps
from podshift.runtimes import PodmanRuntime

pytestmark = [pytest.mark.recovery, pytest.mark.scenario("volume-issues"), pytest.mark.category("filesystem")]
RECOVER = "`podshift recover volume-issues`"


@pytest.mark.check_id("recovery.volumes.bind-mounts-usable")
@pytest.mark.severity("critical")
def test_bind_mounts_usable(target_podman: PodmanRuntime, compose_project: ComposeProject) -> None:
    """A probe container, as each service's user, lists (and writes to) each bind-mount source."""
    problems = probe_mounts(target_podman, compose_project)
    if problems:
        pytest.fail("; ".join(p.describe() for p in problems) + f"; do: {RECOVER}", pytrace=False)


@pytest.mark.check_id("recovery.volumes.selinux-labels")
@pytest.mark.severity("warning")
def test_selinux_labels(compose_project: ComposeProject) -> None:
    """Under enforcing SELinux, every bind mount carries :z/:Z or a container_file_t label."""
    found = selinux_problems(compose_project)
    if found:
        pytest.fail("; ".join(found), pytrace=False)


@pytest.mark.check_id("recovery.volumes.project-volumes-present")
@pytest.mark.severity("critical")
def test_project_volumes_present(target_podman: PodmanRuntime, compose_project: ComposeProject) -> None:
    """Every project volume exists under Podman, and is not empty where the backup has data for it."""
    gaps = volume_gaps(target_podman, compose_project)
    if gaps:
        pytest.fail("; ".join(g.describe() for g in gaps) + f"; do: {RECOVER}", pytrace=False)
