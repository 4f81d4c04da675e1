"""A fixes journal podshift did not write is refused in one line (exit 1, the file named), never replayed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ..conftest import REPO


def _entry(**record: object) -> dict[str, object]:
    file = {"path": "/tmp/i9-never-written", "existed": True, "content_b64": "aGk=", "mode": 420, "uid": 0, "gid": 0}
    return {
        "fix": "i9",
        "scope": "user",
        "check": "c",
        "summary": "s",
        "files": [{**file, **record}],
        "commands": [],
        "id": "x",
        "applied_at": 0,
    }


@pytest.mark.parametrize("bad", ["content", "mode", "directory", "not-json"])
def test_a_bad_journal_is_one_line(tmp_path: Path, bad: str) -> None:
    journal = tmp_path / "journal.json"
    if bad == "directory":
        journal.mkdir()
    elif bad == "not-json":
        journal.write_text("{")
    else:
        record = {"content_b64": "!!not base64!!"} if bad == "content" else {"mode": "0644"}
        journal.write_text(json.dumps({"version": 1, "entries": [_entry(**record)]}))
    for action in ("list", "revert"):
        cli = subprocess.run(
            [sys.executable, "-m", "podshift.cli", "fixes", action],
            env={**os.environ, "PODSHIFT_FIXES_JOURNAL": str(journal)},
            capture_output=True,
            text=True,
            check=False,
            cwd=REPO,
            timeout=120,
        )
        assert cli.returncode == 1, cli.stdout + cli.stderr
        assert "Traceback" not in cli.stderr
        assert str(journal) in cli.stderr
    assert not Path("/tmp/i9-never-written").exists()
