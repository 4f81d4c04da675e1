"""The checks' session: the target project, the engines as they are, thresholds.

Unlike the test-suite fixtures, these never fail a check because an engine
is down: the check that asks "does the daemon answer?" says so, and the
checks that need the daemon are skipped, naming it.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from podshift.commands import CommandResult
from podshift.compose.model import ComposeProject
from podshift.engines import ROOTLESS_USER_ENV, podman_runtime_for, podman_user
from podshift.errors import PodshiftError
from podshift.hoststate import memo
from podshift.images import HELPER_CHANGES, HELPER_IMAGE, helper_rootfs
from podshift.plugin import current_project, require_project
from podshift.probes import podman_cli
from podshift.runtimes import DockerRuntime, PodmanRuntime
from podshift.session_engines import answering

THRESHOLDS = {
    "podshift_min_docker_version": ("20.10", "oldest Docker engine podshift migrates from"),
    "podshift_min_podman_version": ("3.0", "oldest Podman podshift migrates to"),
    "podshift_min_memory_mb": ("1024", "memory below this is a warning"),
    "podshift_backup_space_factor": ("2.0", "free space needed where the backup goes, x (config + volume data)"),
    "podshift_min_subids": ("65536", "sub-uid/gid range size needed for rootless Podman"),
}


def pytest_addoption(parser: pytest.Parser) -> None:
    for name, (default, help_text) in THRESHOLDS.items():
        parser.addini(name, f"{help_text} (default {default})", default=default)


def pytest_configure(config: pytest.Config) -> None:
    # A bad --project-dir or ini value ends the run here with exit 4 (CLI: 2) and one line.
    require_project(config)
    read_thresholds(config)


@dataclass(frozen=True)
class Thresholds:
    min_docker: tuple[int, ...]
    min_podman: tuple[int, ...]
    min_memory_mb: int
    backup_space_factor: float
    min_subids: int


def version_tuple(text: str) -> tuple[int, ...]:
    """``"20.10.24+dfsg1"`` -> (20, 10, 24)."""
    parts = []
    for piece in text.split("+")[0].split("-")[0].split("."):
        if not piece.isdigit():
            break
        parts.append(int(piece))
    return tuple(parts)


def read_thresholds(config: pytest.Config) -> Thresholds:
    """The ini thresholds, or a usage error naming the bad one (never a traceback per check)."""

    def get(name: str, kind: Any) -> Any:
        text = str(config.getini(name)).strip()
        try:
            value = kind(text)
        except ValueError:
            expected = {int: "a whole number", float: "a number"}.get(kind, "a value of its kind")
            raise pytest.UsageError(f"podshift: ini {name} = {text!r}: expected {expected}") from None
        if kind is version_tuple and not value:
            raise pytest.UsageError(f"podshift: ini {name} = {text!r}: not a version (e.g. 20.10)")
        return value

    return Thresholds(
        min_docker=get("podshift_min_docker_version", version_tuple),
        min_podman=get("podshift_min_podman_version", version_tuple),
        min_memory_mb=get("podshift_min_memory_mb", int),
        backup_space_factor=get("podshift_backup_space_factor", float),
        min_subids=get("podshift_min_subids", int),
    )


@pytest.fixture(scope="session")
def thresholds(pytestconfig: pytest.Config) -> Thresholds:
    return read_thresholds(pytestconfig)


@pytest.fixture
def project(pytestconfig: pytest.Config) -> ComposeProject:
    """The target Compose project as it is now (re-read after a fix changed it)."""
    return current_project(pytestconfig)


@pytest.fixture(scope="session", name="podman_user")
def podman_user_fixture() -> str:
    """Who will run Podman: the invoking user, or (as root) $PODSHIFT_ROOTLESS_USER, else root."""
    return podman_user()


@pytest.fixture(scope="session")
def rootless_user(podman_user: str) -> str:
    """The rootless Podman user; checks about rootless Podman are skipped for rootful runs."""
    if podman_user == "root":
        pytest.skip(
            f"Podman will run rootful (as root; `--rootless-user USER` or {ROOTLESS_USER_ENV} checks a user's "
            "rootless Podman)"
        )
    return podman_user


@pytest.fixture(scope="session")
def docker() -> Iterator[DockerRuntime]:
    """The Docker engine, or a skip naming the check that reports it down."""
    why = "needs the Docker daemon, which is not reachable ({reason}); see 'Docker daemon answers'"
    with answering(DockerRuntime(), if_down="skip", why=why) as runtime:
        yield runtime


@pytest.fixture(scope="session")
def podman_api(podman_user: str) -> Iterator[PodmanRuntime]:
    why = "needs the Podman API service, which is not reachable ({reason})"
    with answering(podman_runtime_for(podman_user), if_down="skip", why=why) as runtime:
        yield runtime


@pytest.fixture
def podman_info(podman_api: PodmanRuntime, pytestconfig: pytest.Config) -> dict[str, Any]:
    """``podman info`` through the API, fetched once per host state (see podshift.hoststate)."""
    info: dict[str, Any] = memo(pytestconfig, "podman_info", podman_api.client.info)
    return info


@pytest.fixture
def podman_smoke(podman_user: str, pytestconfig: pytest.Config) -> CommandResult:
    """One real container run by the Podman user from a local image (never a pull), once per host state."""
    return memo(pytestconfig, "podman_smoke", lambda: _smoke(podman_user))


def _import_helper_image(podman_user: str) -> None:
    """Import podshift's helper image with the CLI: these checks need no API service (its check only warns)."""
    changes = [arg for change in HELPER_CHANGES for arg in ("--change", change)]
    try:
        with helper_rootfs(shared=True) as tar:
            imported = podman_cli("import", *changes, str(tar), HELPER_IMAGE, user=podman_user, timeout=300)
    except PodshiftError as e:
        pytest.skip(f"could not import podshift's local helper image: {e}")
    if imported.rc != 0:
        pytest.skip(f"could not import podshift's local helper image: {imported.stderr.strip()[-300:]}")


def _smoke(podman_user: str) -> CommandResult:
    if shutil.which("podman") is None:
        pytest.skip("Podman is not installed; see 'Podman is installed'")
    # A podman that fails here (bad containers.conf, missing ids) fails the smoke run
    # below with its own error, which is what the checks report.
    if podman_cli("image", "exists", HELPER_IMAGE, user=podman_user).rc == 1:
        _import_helper_image(podman_user)
    return podman_cli("run", "--rm", "--pull=never", "--network=none", HELPER_IMAGE, "true", user=podman_user)
