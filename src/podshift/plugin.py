"""The podshift pytest plugin: options, markers, the target project and engine fixtures.

Registered through the ``pytest11`` entry point, so a third party's own check
directory gets the same markers, options and fixtures without importing
podshift.  Nothing here touches an engine until a fixture asks for it.
"""

from __future__ import annotations

import os
import pwd
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from podshift import fixing, hoststate, markers, outcomes, selection, stepping
from podshift.compose.model import ComposeProject, files_from_environment, find_project_dir, load_project
from podshift.engines import ROOTLESS_USER_ENV, engines_required, make_runtime
from podshift.errors import EngineUnavailable, PodshiftError
from podshift.paths import reports_dir
from podshift.readiness import TEXT_REPORT, ReadinessReporter, evidence_recorder
from podshift.recovery import session as recovery_session
from podshift.runtimes import DockerRuntime, PodmanRuntime, Runtime

PROJECT_DIR_ENV = "PODSHIFT_PROJECT_DIR"

_project_key = pytest.StashKey[ComposeProject]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("podshift", "podshift (Docker Compose to Podman migration)")
    group.addoption(
        "--project-dir",
        dest="podshift_project_dir",
        metavar="DIR",
        default=None,
        help=f"the Compose project to check (env {PROJECT_DIR_ENV}, ini podshift_project_dir; "
        "default: the current directory, as `docker compose`)",
    )
    parser.addini(
        "podshift_project_dir", "the Compose project to check (relative to the ini file's directory)", default=None
    )
    group.addoption(
        "--compose-file",
        dest="podshift_compose_files",
        metavar="FILE",
        action="append",
        default=[],
        help="a compose file of the project, as `docker compose -f` (repeatable; default: COMPOSE_FILE, "
        "else compose.yaml and the other names Compose looks for)",
    )
    group.addoption(
        "--project-name",
        dest="podshift_project_name",
        metavar="NAME",
        default=None,
        help="the Compose project name, as `docker compose -p` (default: COMPOSE_PROJECT_NAME, the file's "
        "`name:`, the directory's name)",
    )
    group.addoption(
        "--reports-dir",
        dest="podshift_reports_dir",
        metavar="DIR",
        default=None,
        help="where reports go (default: ./reports of the current directory)",
    )
    group.addoption(
        "--fail-on-warnings",
        dest="podshift_fail_on_warnings",
        action="store_true",
        help="exit 1 when the verdict is READY WITH WARNINGS (strict CI gates)",
    )
    group.addoption(
        "--export-report", dest="podshift_export_report", action="store_true", help=f"write reports/{TEXT_REPORT}"
    )
    group.addoption(
        "--detailed",
        dest="podshift_detailed",
        action="store_true",
        help="show the evidence of every check, passed ones too",
    )
    group.addoption(
        "--check",
        dest="podshift_checks",
        metavar="ID",
        action="append",
        default=[],
        help="run only this check (its id, e.g. network.ports-free; shell-style patterns like 'network.*' "
        "work); repeatable",
    )
    group.addoption(
        "--skip-check",
        dest="podshift_skip_checks",
        metavar="ID",
        action="append",
        default=[],
        help="do not run this check (id or pattern); repeatable; it is listed as 'not run' in every report",
    )
    group.addoption(
        "--waivers",
        dest="podshift_waivers",
        metavar="FILE",
        default=None,
        help="the waiver file (default: podshift-waivers.yaml in the project directory, if present)",
    )
    parser.addini(
        "podshift_require_check_ids",
        "every check must carry @pytest.mark.check_id (always true for podshift's own checks)",
        type="bool",
        default=False,
    )
    group.addoption(
        "--fix-issues",
        dest="podshift_fix_issues",
        action="store_true",
        help="apply the remediation of each failed check, then check again (runs serially)",
    )
    group.addoption(
        "--dry-run",
        dest="podshift_dry_run",
        action="store_true",
        help="with --fix-issues: show what each fix would change, change nothing",
    )
    group.addoption(
        "--allow-system-changes",
        dest="podshift_allow_system_changes",
        action="store_true",
        help="with --fix-issues: also apply system-scope fixes (/etc, sysctl, other users; needs root)",
    )
    stepping.addoption(group)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from podshift import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


def pytest_configure(config: pytest.Config) -> None:
    user = os.environ.get(ROOTLESS_USER_ENV)
    if user:
        try:
            pwd.getpwnam(user)
        except KeyError:
            raise pytest.UsageError(f"podshift: {ROOTLESS_USER_ENV}={user}: there is no such user") from None
    markers.register(config)
    config.pluginmanager.register(outcomes, "podshift-outcomes")
    config.pluginmanager.register(selection, "podshift-selection")
    reporter = ReadinessReporter(config)
    reporter.check_html_path()
    config.pluginmanager.register(reporter, "podshift-readiness")
    fixing.configure(config)
    stepping.configure(config)
    recovery_session.configure(config)


def project_dir(config: pytest.Config) -> Path:
    """Where the target project is: option, then env, then ini, then the current directory (or, as
    Compose, its nearest parent with a compose file)."""
    chosen = config.getoption("podshift_project_dir") or os.environ.get(PROJECT_DIR_ENV)
    base = Path.cwd()
    if not chosen and config.getini("podshift_project_dir"):
        chosen = config.getini("podshift_project_dir")
        base = config.inipath.parent if config.inipath else config.rootpath
    if not chosen:
        if config.getoption("podshift_compose_files", None) or files_from_environment(os.environ):
            return base
        return find_project_dir(base)  # as Compose: the nearest of the directory and its parents
    path = Path(str(chosen)).expanduser()
    return path if path.is_absolute() else base / path


def session_reports_dir(config: pytest.Config) -> Path:
    """``--reports-dir``, else ``./reports`` of the current directory."""
    return reports_dir(config.getoption("podshift_reports_dir", None))


def require_project(config: pytest.Config) -> ComposeProject:
    """Load the target project once per process, or stop the session with a usage error.

    Called from a checks directory's ``pytest_configure``: a missing directory,
    a directory without a compose file or a compose file the Compose tool
    rejects ends the run with pytest's usage-error exit code (4) and one line.
    """
    project = config.stash.get(_project_key, None)
    if project is None:
        # A rollback also works when the compose file is gone (its backup holds it).
        from podshift.rollback.project import load_for_rollback

        rollback = stepping.action_of(config)[0] == "rollback"
        try:
            load = load_for_rollback if rollback else load_project
            project = load(
                project_dir(config),
                compose_files=config.getoption("podshift_compose_files", None) or (),
                project_name=config.getoption("podshift_project_name", None),
            )
        except PodshiftError as e:
            raise pytest.UsageError(f"podshift: {e}") from None
        config.stash[_project_key] = project
    return project


def current_project(config: pytest.Config) -> ComposeProject:
    """The project as it is now: reloaded after a fix changed the host (e.g. rewrote the compose file)."""
    first = require_project(config)
    if hoststate.generation(config) == 0:
        return first
    return hoststate.memo(
        config,
        "project",
        lambda: load_project(
            first.project_dir,
            compose_files=first.compose_files,  # the same files (-f, COMPOSE_FILE) and name as at the start
            project_name=config.getoption("podshift_project_name", None),
            env=first.env,
        ),
    )


# -- fixtures -------------------------------------------------------------------------
@pytest.fixture
def evidence(request: pytest.FixtureRequest) -> Any:
    """``evidence(label, value)``: record what a check saw (shown with --detailed)."""
    return evidence_recorder(request.node)


@pytest.fixture(scope="session", name="project_dir")
def project_dir_fixture(compose_project: ComposeProject) -> Path:
    """The target project's resolved directory."""
    return compose_project.project_dir


@pytest.fixture(scope="session")
def compose_project(pytestconfig: pytest.Config) -> ComposeProject:
    """The target project, normalized by ``docker compose config``."""
    try:
        return require_project(pytestconfig)
    except pytest.UsageError as e:
        pytest.fail(str(e), pytrace=False)


def _connect(kind: str) -> Iterator[Runtime]:
    """Connect once; a missing engine skips, or fails under PODSHIFT_REQUIRE_ENGINES=1."""
    try:
        runtime = make_runtime(kind)
        runtime.ping()
    except (EngineUnavailable, LookupError) as e:
        if engines_required():
            pytest.fail(f"{kind} is required (PODSHIFT_REQUIRE_ENGINES=1) but unavailable: {e}", pytrace=False)
        pytest.skip(f"{kind} unavailable: {e}")
    try:
        yield runtime
    finally:
        runtime.close()


@pytest.fixture(scope="session")
def docker_runtime() -> Iterator[DockerRuntime]:
    """The Docker engine, connected once per session (per xdist worker)."""
    yield from cast(Iterator[DockerRuntime], _connect("docker"))


@pytest.fixture(scope="session")
def podman_runtime() -> Iterator[PodmanRuntime]:
    """The invoking user's Podman: rootful for root, rootless otherwise."""
    yield from cast(Iterator[PodmanRuntime], _connect("podman"))


@pytest.fixture(scope="session")
def rootless_podman_runtime() -> Iterator[PodmanRuntime]:
    """A rootless Podman: the invoking user's, or (as root) $PODSHIFT_ROOTLESS_USER's."""
    yield from cast(Iterator[PodmanRuntime], _connect("podman-rootless"))


@pytest.fixture(params=["docker", "podman"])
def runtime(request: pytest.FixtureRequest) -> Runtime:
    """Each engine in turn."""
    value: Runtime = request.getfixturevalue(f"{request.param}_runtime")
    return value
