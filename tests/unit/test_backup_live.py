"""A backup read while its writers run (``archive_live``) is kept only if ``unsettled`` finds nothing since."""

from __future__ import annotations

import os
import time
from pathlib import Path

from podshift.backup.direct import CTIME_SLACK_NS, LiveArchive, archive_live, unsettled


def _tree(root: Path) -> Path:
    (root / "sub").mkdir(parents=True)
    for i in range(50):
        (root / "sub" / f"{i}.dat").write_bytes(os.urandom(1000))
    (root / "top.txt").write_text("top\n")
    time.sleep(CTIME_SLACK_NS / 1e9 + 0.1)  # settled: written well before the read begins
    return root


def _read(root: Path, tmp: Path) -> LiveArchive:
    fd = os.open(tmp / "a.tar", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        return archive_live(root, fd)
    finally:
        os.close(fd)


def test_nothing_written_since_keeps_the_live_read(tmp_path: Path) -> None:
    root = _tree(tmp_path / "v")
    live = _read(root, tmp_path)
    assert len(live.entries) == 52  # sub, its 50 files, top.txt
    assert live.size > 0
    assert unsettled(root, live) == []


def test_a_file_written_after_the_read_is_named(tmp_path: Path) -> None:
    root = _tree(tmp_path / "v")
    live = _read(root, tmp_path)
    (root / "sub" / "7.dat").write_bytes(b"changed")
    assert unsettled(root, live) == ["sub/7.dat"]


def test_an_added_or_removed_entry_shows_in_its_directory(tmp_path: Path) -> None:
    root = _tree(tmp_path / "v")
    live = _read(root, tmp_path)
    (root / "sub" / "new").write_text("new")
    (root / "top.txt").unlink()
    assert unsettled(root, live) == ["", "sub", "top.txt"]


def test_a_file_written_just_before_the_read_began_is_not_trusted(tmp_path: Path) -> None:
    """Its write may have landed after tar read it, within one tick of the kernel's clock: read it again."""
    root = _tree(tmp_path / "v")
    (root / "sub" / "3.dat").write_bytes(b"just now")
    live = _read(root, tmp_path)
    assert "sub/3.dat" in unsettled(root, live)
    assert "sub/4.dat" not in unsettled(root, live)
