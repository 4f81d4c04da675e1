"""The readiness backup check trusts a deep verification of the very same files, and only that."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from podshift.backup import trust
from podshift.backup.store import BackupStore
from podshift.compose.model import load_project
from podshift.runtimes import DockerRuntime

from .conftest import check, run_checks

SELECT = "test_backup.py::test_a_verified_backup_of_the_project_exists"
NAME = "test_a_verified_backup_of_the_project_exists"


@pytest.fixture
def backed_up(project_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, dict[str, str]]:
    """A project copy with 2 MiB of bind-mounted data and a real backup of it (data included)."""
    data = project_copy.parent / "data"
    data.mkdir()
    for i in range(8):
        (data / f"blob{i}").write_bytes(os.urandom(256 * 1024))
    env = {"PHOENIX_DATA_DIR": str(data), "PODSHIFT_STATE_DIR": str(tmp_path / "state")}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    project = load_project(project_copy, project_name=f"i15-trust-{os.getpid()}", env=env)
    docker = DockerRuntime()
    try:
        BackupStore(project_copy).create(project, docker, include_data=True, force=False)
    finally:
        docker.close()
    return project_copy, env


def _archive(project: Path) -> Path:
    archives = sorted((project / ".docker-backup" / "binds").glob("*.tar"))
    assert archives, "the backup holds the bind-mounted data"
    return archives[0]


def test_a_fresh_backup_is_trusted_without_rehashing(backed_up: tuple[Path, dict[str, str]]) -> None:
    project, env = backed_up
    c = check(run_checks(project, SELECT, env=env), NAME)
    assert c["outcome"] == "passed", c["message"]
    assert any("deep-verified" in e and "by podshift backup" in e for e in c["evidence"]), c["evidence"]


def test_trust_means_no_rereading(backed_up: tuple[Path, dict[str, str]]) -> None:
    """With a record that vouches for the files as they are, a same-size corruption goes unread: nothing re-hashed."""
    project, env = backed_up
    archive = _archive(project)
    body = bytearray(archive.read_bytes())
    body[-2000] ^= 0xFF  # inside the tar's padding/data, same size
    archive.write_bytes(bytes(body))
    # Vouch for the files as they are now (what `backup --verify` would do had it passed).
    os.environ.update(env)
    try:
        trust.record(project / ".docker-backup", "a test's say-so")
    finally:
        for key in env:
            os.environ.pop(key, None)
    c = check(run_checks(project, SELECT, env=env), NAME)
    assert c["outcome"] == "passed"
    assert any("a test's say-so" in e for e in c["evidence"])


def test_a_file_changed_since_the_verification_is_verified_deeply(backed_up: tuple[Path, dict[str, str]]) -> None:
    project, env = backed_up
    archive = _archive(project)
    body = bytearray(archive.read_bytes())
    body[-2000] ^= 0xFF
    stat = archive.stat()
    archive.write_bytes(bytes(body))
    os.utime(archive, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same size and mtime: only ctime tells
    c = check(run_checks(project, SELECT, env=env), NAME)
    assert c["outcome"] == "warning"
    assert f"changed {archive.relative_to(project / '.docker-backup')}" in c["message"]


def test_the_record_lives_in_host_state_not_in_the_project(backed_up: tuple[Path, dict[str, str]]) -> None:
    project, env = backed_up
    records = list((Path(env["PODSHIFT_STATE_DIR"]) / trust.RECORDS).glob("*.json"))
    assert len(records) == 1
    assert json.loads(records[0].read_text())["backup"] == str((project / ".docker-backup").resolve())
    assert not list(project.rglob("*verification*"))
