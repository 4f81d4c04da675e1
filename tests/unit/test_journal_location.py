"""Where the fixes journal lives: host state, per-project entries, the old journal carried over once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from podshift.journal import CARRIED_OVER_SUFFIX, JOURNAL_ENV, Journal, JournalEntry, journal_path, open_journal
from podshift.paths import STATE_DIR_ENV


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv(JOURNAL_ENV, raising=False)
    monkeypatch.setenv(STATE_DIR_ENV, str(tmp_path / "state"))
    return tmp_path / "state"


def test_journal_is_in_the_host_state_directory_unless_overridden(
    state: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert journal_path() == state / "fixes-journal.json"
    monkeypatch.setenv(JOURNAL_ENV, str(tmp_path / "mine.json"))
    assert journal_path() == tmp_path / "mine.json"


def test_old_journal_is_carried_over_once(state: Path, tmp_path: Path) -> None:
    legacy = tmp_path / "checkout" / "reports" / "fixes-journal.json"
    legacy.parent.mkdir(parents=True)
    old = JournalEntry(fix="backup-dir", scope="project", check="c", summary="s")
    legacy.write_text(json.dumps({"version": 1, "entries": [{k: v for k, v in vars(old).items() if k != "project"}]}))
    journal = open_journal(legacy)
    assert [e.id for e in journal.entries()] == [old.id]
    assert journal.entries()[0].project == ""
    assert not legacy.exists()
    assert legacy.with_name(legacy.name + CARRIED_OVER_SUFFIX).is_file()
    assert [e.id for e in open_journal(legacy).entries()] == [old.id], "carried over twice"
    assert (state.stat().st_mode & 0o777) == 0o700


def test_entries_and_revert_by_project(state: Path, tmp_path: Path) -> None:
    journal = Journal(journal_path())
    a, b = tmp_path / "a", tmp_path / "b"
    with journal.locked():
        for project in (a, b, a):
            journal.append(
                JournalEntry(fix="f", scope="project", check="c", summary=str(project), project=str(project))
            )
    assert [e.summary for e in journal.entries(a)] == [str(a), str(a)]
    undone = journal.revert(log=lambda _: None, project=a)
    assert [e.project for e in undone] == [str(a), str(a)]
    assert [e.project for e in journal.entries()] == [str(b)]
