"""Advice that is safe and works, on the real host: what podshift suggests, and what it will not."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import check, run_checks, write_compose

ROOTLESS = {"PODSHIFT_ROOTLESS_USER": os.environ.get("PODSHIFT_ROOTLESS_USER", "podshift")}
DRY_FIX = ("--fix-issues", "--dry-run")


@pytest.fixture
def journal(tmp_path: Path) -> dict[str, str]:
    return {"PODSHIFT_FIXES_JOURNAL": str(tmp_path / "fixes-journal.json")}


def _bind(project: Path, source: str) -> None:
    write_compose(
        project,
        f"""
        services:
          app:
            image: localhost/podshift-helper:1
            volumes:
              - {source}:/mnt/i15
        """,
    )


def _bind_check(project: Path, journal: dict[str, str]) -> dict:
    """The bind-mount check's result for the rootless user, with the fixes planned (--dry-run)."""
    result = run_checks(
        project,
        "test_filesystem.py::test_bind_mount_sources_exist_and_are_accessible",
        env={**ROOTLESS, **journal},
        args=DRY_FIX,
    )
    return check(result, "test_bind_mount_sources_exist_and_are_accessible")


def test_no_advice_widens_access_to_the_docker_socket(project_copy: Path, journal: dict[str, str]) -> None:
    # Docker's socket: the migration points the mount at the target Podman's own socket, so the Podman
    # user never needs Docker's (security.no-docker-socket warns about the mount itself).
    _bind(project_copy, "/var/run/docker.sock")
    c = _bind_check(project_copy, journal)
    assert c["outcome"] == "passed", c["message"]
    assert "chown" not in str(c)
    assert "setfacl" not in str(c)


def test_no_advice_widens_access_to_roots_podman_socket(project_copy: Path, journal: dict[str, str]) -> None:
    # Root's Podman socket mounted for a rootless user: root-equivalent access, never granted.
    _bind(project_copy, "/run/podman/podman.sock")
    c = _bind_check(project_copy, journal)
    assert c["outcome"] == "failed"
    assert "is a container engine's API socket" in c["message"]
    assert "podman.sock" in c["message"]
    assert "chown" not in c["message"]
    assert "setfacl" not in c["message"]


@pytest.fixture
def root_only_dir() -> Iterator[Path]:
    """A root-owned 0700 data directory under /root (0700: no other user can even enter it)."""
    path = Path("/root") / f"i15-data-{uuid.uuid4().hex[:6]}"
    path.mkdir(mode=0o700)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def open_parent_dir() -> Iterator[Path]:
    """A root-owned 0700 data directory whose parents every user may enter."""
    parent = Path(tempfile.mkdtemp(prefix="i15-open-"))
    parent.chmod(0o755)
    data = parent / "data"
    data.mkdir(mode=0o700)
    try:
        yield data
    finally:
        shutil.rmtree(parent, ignore_errors=True)


def test_acl_advice_only_where_the_parent_is_traversable(
    project_copy: Path, journal: dict[str, str], root_only_dir: Path, open_parent_dir: Path
) -> None:
    assert (Path("/root").stat().st_mode & 0o077) == 0, "this test needs /root closed to other users"
    select = "test_filesystem.py::test_bind_mount_sources_exist_and_are_accessible"
    name = "test_bind_mount_sources_exist_and_are_accessible"
    _bind(project_copy, str(root_only_dir))
    closed = check(run_checks(project_copy, select, env={**ROOTLESS, **journal}, args=DRY_FIX), name)
    assert closed["outcome"] == "failed"
    assert "cannot enter /root (mode 0700" in closed["message"]
    assert "move the data somewhere" in closed["message"]
    assert "setfacl" not in closed["message"]

    _bind(project_copy, str(open_parent_dir))
    reachable = check(run_checks(project_copy, select, env={**ROOTLESS, **journal}, args=DRY_FIX), name)
    assert reachable["outcome"] == "failed"
    assert f"`setfacl -R -m u:{ROOTLESS['PODSHIFT_ROOTLESS_USER']}:rX {open_parent_dir}`" in reachable["message"]


def test_unprivileged_port_plan_states_who_may_bind_then(project_copy: Path, journal: dict[str, str]) -> None:
    env = {**ROOTLESS, **journal, "PHOENIX_WEB_PORT": "80"}
    result = run_checks(project_copy, "test_rootless.py::test_published_ports_are_unprivileged", env=env, args=DRY_FIX)
    c = check(result, "test_published_ports_are_unprivileged")
    assert c["outcome"] == "failed"
    assert "security effect: every user and process on this host may then bind ports 80-" in c["message"]


def test_root_checking_a_rootless_user_is_not_told_it_runs_rootful(project_copy: Path) -> None:
    select = "test_security.py::test_podshift_runs_as_a_normal_user"
    name = "test_podshift_runs_as_a_normal_user"
    assert check(run_checks(project_copy, select, env=ROOTLESS), name)["outcome"] == "passed"
    if os.geteuid() == 0:
        rootful = check(run_checks(project_copy, select, env={"PODSHIFT_ROOTLESS_USER": ""}), name)
        assert rootful["outcome"] == "warning"
        assert "running as root" in rootful["message"]


@pytest.mark.parametrize("held", ["tcp", "udp"])
def test_tcp_and_udp_ports_are_told_apart(project_copy: Path, held: str) -> None:
    kind = socket.SOCK_STREAM if held == "tcp" else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as holder:
        holder.bind(("127.0.0.1", 0))
        if held == "tcp":
            holder.listen()
        port = holder.getsockname()[1]
        write_compose(
            project_copy,
            f"""
            services:
              logstash:
                image: localhost/podshift-helper:1
                ports: ["127.0.0.1:{port}:5000/tcp", "127.0.0.1:{port}:5000/udp"]
            """,
        )
        result = run_checks(project_copy, "test_network.py::test_published_ports_are_free")
    c = check(result, "test_published_ports_are_free")
    assert c["outcome"] == "failed"
    other = "udp" if held == "tcp" else "tcp"
    assert c["message"].count(f"127.0.0.1:{port}/{held} (logstash)") == 1
    assert f"/{other}" not in c["message"].split("—")[0]


def test_compose_tools_say_which_binary_and_whether_the_user_has_one(project_copy: Path, tmp_path: Path) -> None:
    select = ("test_podman.py::test_compose_provider_is_on_the_users_path",)
    name = "test_compose_provider_is_on_the_users_path"
    bare = check(run_checks(project_copy, *select, env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}), name)
    if shutil.which("podman-compose", path="/usr/sbin:/usr/bin:/sbin:/bin") is None:
        assert bare["outcome"] == "info"
        assert "(its own copy); you have no podman-compose on your PATH" in bare["message"]
    # A podman-compose of the user's own on PATH: named, and the check passes.
    own = tmp_path / "bin"
    own.mkdir()
    (own / "podman-compose").write_text("#!/bin/sh\nexit 0\n")
    (own / "podman-compose").chmod(0o755)
    mine = check(run_checks(project_copy, *select, env={"PATH": f"{own}:/usr/sbin:/usr/bin:/sbin:/bin"}), name)
    assert mine["outcome"] == "passed"
    assert f"on your PATH: {own / 'podman-compose'}" in mine["evidence"]
