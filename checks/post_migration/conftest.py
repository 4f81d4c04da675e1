"""The post_migration checks' session: the project as its files say now, the target Podman, the journal.

A post-migration check proves something: an engine that does not answer
fails it (never a skip).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from podshift.compose.model import ComposeProject, load_project
from podshift.engines import podman_runtime_for
from podshift.runtimes import DockerRuntime, PodmanRuntime
from podshift.session_engines import answering, target_podman_user
from podshift.steps import StepJournal


@pytest.fixture(scope="session")
def migrated(pytestconfig: pytest.Config) -> ComposeProject:
    """The target project re-read from its directory (the migration may have rewritten its compose file)."""
    from podshift.plugin import require_project

    p = require_project(pytestconfig)
    return load_project(p.project_dir, compose_files=p.compose_files, project_name=p.name, env=p.env)


@pytest.fixture(scope="session")
def migrate_journal(migrated: ComposeProject) -> StepJournal:
    journal = StepJournal.open(migrated.project_dir, "migrate")
    if not journal.exists():
        pytest.fail(f"no migration journal in {journal.path}: run `podshift migrate` first", pytrace=False)
    return journal


@pytest.fixture(scope="session")
def target_podman(pytestconfig: pytest.Config) -> Iterator[PodmanRuntime]:
    """The Podman the project was migrated to (``--rootless-user``, else the invoking user's)."""
    runtime = podman_runtime_for(target_podman_user(pytestconfig))
    with answering(runtime, if_down="fail", why="the target Podman does not answer, so nothing runs under it: {error}"):
        yield runtime


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[DockerRuntime]:
    with answering(
        DockerRuntime(), if_down="fail", why="Docker does not answer, so its volumes cannot be compared: {error}"
    ) as runtime:
        yield runtime
