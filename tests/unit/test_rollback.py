"""Rollback pieces that need no engine: comparing with what the app wrote since, the project when its
compose file is gone, who holds a port, and the verb's refusal without a terminal."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from podshift.backup.store import BackupStore
from podshift.backup.tarscan import Entry
from podshift.compose.model import load_project
from podshift.errors import ProjectError
from podshift.ports import holders
from podshift.rollback import command
from podshift.rollback.project import load_for_rollback
from podshift.rollback.volumes import compare_since


def entry(path: str, sha: str = "a", mtime: int = 100, kind: str = "file") -> Entry:
    return Entry(path, kind, 1 if kind == "file" else 0, 0o644, 0, 0, mtime, sha if kind == "file" else "")


def test_compare_since_forgives_only_what_changed_after_the_start() -> None:
    want = [entry("d", kind="dir"), entry("d/jobs", "1"), entry("d/keep", "k"), entry("gone")]
    got = [
        entry("d", mtime=500, kind="dir"),
        entry("d/jobs", "2", mtime=500),
        entry("d/keep", "k"),
        entry("new", mtime=600),
    ]
    # Without a start time every difference counts.
    assert "changed 'd/jobs'" in compare_since(want, got)
    # Since 400: jobs and new were written by the app; "gone" vanished from the root (not recorded): forgiven.
    assert compare_since(want, got, since=400) == ""
    # A file changed *before* the start is a real difference, whatever happened later.
    got[2] = entry("d/keep", "tampered", mtime=300)
    assert compare_since(want, got, since=400) == "changed 'd/keep'"
    # A file missing from a directory nobody touched since is lost data.
    assert "missing 'd/other'" in compare_since([*want, entry("d/other")], [*got[:1], *got[1:]], since=600)


def test_project_loads_from_the_backup_when_its_compose_file_is_gone(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text("name: i12-unit\nservices:\n  app:\n    image: busybox\n")
    project = load_project(tmp_path)
    BackupStore(tmp_path).create(project, None, include_data=False, force=False)
    (tmp_path / "compose.yaml").rename(tmp_path / "compose.yaml.bak")
    again = load_for_rollback(tmp_path)
    assert again.name == "i12-unit"
    assert again.project_dir == tmp_path.resolve()
    assert set(again.services) == {"app"}


def test_no_compose_file_and_no_backup_names_the_backup_directory(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match=r"Backup directory not found: .*\.docker-backup; create one with"):
        load_for_rollback(tmp_path)


def test_the_process_holding_a_port_is_named_with_its_pid() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        found = holders(port)
    assert [h.pid for h in found] == [os.getpid()]
    assert not found[0].is_podman
    assert f"PID {os.getpid()}" in found[0].describe()


def test_without_a_terminal_or_force_the_verb_refuses_before_any_session(tmp_path: Path) -> None:
    lines: list[str] = []
    sessions: list[bool] = []

    def session(dry_run: bool) -> int:
        sessions.append(dry_run)
        return command.EXIT_OK

    project = load_project(_small(tmp_path))
    code = command.run(project, command.RollbackFlags(), session, interactive=False, out=lines.append)
    assert code == command.EXIT_FAILED
    assert "refusing" in lines[0]
    assert "--force" in lines[0]
    assert sessions == [], "no session ran: nothing changed"


def test_a_terminal_answer_other_than_yes_changes_nothing(tmp_path: Path) -> None:
    sessions: list[bool] = []

    def session(dry_run: bool) -> int:
        sessions.append(dry_run)
        return command.EXIT_OK

    project = load_project(_small(tmp_path))
    code = command.run(project, command.RollbackFlags(), session, interactive=True, ask=lambda p: "y", out=print)
    assert code == command.EXIT_FAILED
    assert sessions == [True], "only the plan ran"
    code = command.run(project, command.RollbackFlags(), session, interactive=True, ask=lambda p: "yes", out=print)
    assert code == command.EXIT_OK
    assert sessions == [True, True, False]


def _small(root: Path) -> Path:
    (root / "compose.yaml").write_text("name: i12-unit\nservices:\n  app:\n    image: busybox\n")
    return root
