"""The post_rollback checks' session: the project as its directory holds it now, and the engines.

A post-rollback check proves something: an engine that does not answer fails
it (it is never a skip).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from podshift.compose.model import ComposeProject
from podshift.engines import podman_runtime_for, podman_user
from podshift.errors import EngineUnavailable
from podshift.rollback.project import reload
from podshift.rollback.verify import RollbackRecord
from podshift.runtimes import DockerRuntime, PodmanRuntime


@pytest.fixture(scope="session")
def rolled_back(pytestconfig: pytest.Config) -> ComposeProject:
    """The target project, re-read from its directory (the rollback restored its compose files)."""
    from podshift.plugin import require_project

    return reload(require_project(pytestconfig))


@pytest.fixture(scope="session")
def rollback_record(rolled_back: ComposeProject) -> RollbackRecord:
    """What the rollback journal says its data steps did (--keep-data, when Docker started)."""
    return RollbackRecord.read(rolled_back.project_dir)


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[DockerRuntime]:
    runtime = DockerRuntime()
    try:
        runtime.ping()
    except EngineUnavailable as e:
        pytest.fail(f"Docker does not answer, so nothing runs under it: {e}", pytrace=False)
    yield runtime
    runtime.close()


@pytest.fixture(scope="session")
def podman_engine(pytestconfig: pytest.Config) -> Iterator[PodmanRuntime]:
    """The Podman the project was rolled back from (``--rootless-user``, else the invoking user's)."""
    user = pytestconfig.getoption("podshift_rootless_user", None) or os.environ.get("PODSHIFT_ROOTLESS_USER")
    runtime = podman_runtime_for(user or podman_user())
    try:
        runtime.ping()
    except EngineUnavailable as e:
        pytest.skip(f"Podman does not answer ({e.reason}): no container of the project can be running there")
    yield runtime
    runtime.close()
