"""The post_migration checks' session: the project as its files say now, the target Podman, the journal.

A post-migration check proves something: an engine that does not answer
fails it (never a skip).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from podshift.compose.model import ComposeProject, load_project
from podshift.engines import podman_runtime_for, podman_user
from podshift.errors import EngineUnavailable
from podshift.runtimes import DockerRuntime, PodmanRuntime
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
    user = pytestconfig.getoption("podshift_rootless_user", None) or os.environ.get("PODSHIFT_ROOTLESS_USER")
    runtime = podman_runtime_for(user or podman_user())
    try:
        runtime.ping()
    except EngineUnavailable as e:
        pytest.fail(f"the target Podman does not answer, so nothing runs under it: {e}", pytrace=False)
    yield runtime
    runtime.close()


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[DockerRuntime]:
    runtime = DockerRuntime()
    try:
        runtime.ping()
    except EngineUnavailable as e:
        pytest.fail(f"Docker does not answer, so its volumes cannot be compared: {e}", pytrace=False)
    yield runtime
    runtime.close()
