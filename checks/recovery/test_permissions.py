"""permission-issues: the rootless user's namespace, newuidmap, and containers starting as the user."""

from __future__ import annotations

import pytest

from podshift.engines import podman_runtime_for
from podshift.images import HELPER_IMAGE, ensure_helper_image
from podshift.recovery.engines import podman
from podshift.recovery.permissions import newuidmap_paths, newuidmap_problem, pause_process_problem, uid_map_problem
from podshift.runtimes import PodmanRuntime
from podshift.session_engines import target_podman_user

pytestmark = [pytest.mark.recovery, pytest.mark.scenario("permission-issues"), pytest.mark.category("podman")]
RECOVER = "`podshift recover permission-issues`"


@pytest.fixture
def rootless(target_podman: PodmanRuntime) -> PodmanRuntime:
    if not target_podman.rootless:
        pytest.skip("rootful Podman: no user namespace (use --rootless-user USER for a rootless one)")
    return target_podman


@pytest.mark.check_id("recovery.permissions.pause-process")
@pytest.mark.severity("critical")
def test_podman_finds_its_namespaces(pytestconfig: pytest.Config) -> None:
    """The user's Podman finds its pause process, or a running container's conmon (`podman info` runs)."""
    # Not through target_podman: the API service died with the pause process, and this check says why.
    runtime = podman_runtime_for(target_podman_user(pytestconfig))
    if not runtime.rootless:
        pytest.skip("rootful Podman: no pause process (use --rootless-user USER for a rootless one)")
    result = podman(runtime, "info", "--format", "{{.Host.OCIRuntime.Name}}", timeout=60)
    problem = None if result.succeeded else pause_process_problem(result.stderr)
    if problem:
        pytest.fail(f"{problem}; do: {RECOVER}", pytrace=False)


@pytest.mark.check_id("recovery.permissions.sub-ids-mapped")
@pytest.mark.severity("critical")
def test_sub_ids_mapped(rootless: PodmanRuntime) -> None:
    """`podman unshare cat /proc/self/uid_map` shows the user's sub-ids mapped."""
    result = podman(rootless, "unshare", "cat", "/proc/self/uid_map", timeout=60)
    problem = uid_map_problem(result.stdout) if result.succeeded else f"podman unshare failed: {result.stderr.strip()}"
    if problem:
        pytest.fail(f"{problem}; do: {RECOVER}", pytrace=False)


@pytest.mark.check_id("recovery.permissions.newuidmap-privileged")
@pytest.mark.severity("critical")
def test_newuidmap_privileged(rootless: PodmanRuntime) -> None:
    """newuidmap and newgidmap are setuid root or carry file capabilities."""
    found = [p for p in (newuidmap_problem(path) for path in newuidmap_paths()) if p]
    if found:
        pytest.fail("; ".join(found), pytrace=False)


@pytest.mark.check_id("recovery.permissions.container-starts-as-the-user")
@pytest.mark.severity("critical")
def test_container_starts_as_the_user(target_podman: PodmanRuntime) -> None:
    """A container from a local image starts and exits 0 for the Podman user."""
    ensure_helper_image(target_podman)
    result = podman(target_podman, "run", "--rm", "--pull=never", "--network=none", HELPER_IMAGE, "true", timeout=300)
    if not result.succeeded:
        pytest.fail(f'podman says: "{result.stderr.strip()[-400:]}"; do: {RECOVER}', pytrace=False)
