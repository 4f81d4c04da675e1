"""The post_rollback checks' session: the project as its directory holds it now, and the engines.

A post-rollback check proves something: an engine that does not answer fails
it (it is never a skip).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from podshift.compose.model import ComposeProject
from podshift.engines import podman_runtime_for
from podshift.rollback.project import reload
from podshift.rollback.verify import RollbackRecord
from podshift.runtimes import DockerRuntime, PodmanRuntime
from podshift.session_engines import answering, target_podman_user


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
    why = "Docker does not answer, so nothing runs under it: {error}"
    with answering(DockerRuntime(), if_down="fail", why=why) as runtime:
        yield runtime


@pytest.fixture(scope="session")
def podman_engine(pytestconfig: pytest.Config) -> Iterator[PodmanRuntime]:
    """The Podman the project was rolled back from (``--rootless-user``, else the invoking user's)."""
    runtime = podman_runtime_for(target_podman_user(pytestconfig))
    why = "Podman does not answer ({reason}): no container of the project can be running there"
    with answering(runtime, if_down="skip", why=why):
        yield runtime
