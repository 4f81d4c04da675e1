"""Atomic writes in a directory someone else may write: nothing followed, nothing left, mode set on the fd."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from podshift.atomic import UnsafePath, open_beneath, replace_with_symlink, write_file_atomically


def test_a_planted_symlink_at_the_target_is_replaced_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious")
    victim.chmod(0o600)
    target = tmp_path / "dir" / "file"
    target.parent.mkdir()
    target.symlink_to(victim)
    write_file_atomically(target, b"new", 0o4640)
    assert victim.read_text() == "precious"
    assert stat.S_IMODE(victim.stat().st_mode) == 0o600
    assert not target.is_symlink()
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o4640
    assert sorted(p.name for p in target.parent.iterdir()) == ["file"], "a temporary was left behind"


def test_symlinks_are_replaced_atomically_and_walks_refuse_links(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with pytest.raises(UnsafePath, match="link"):
            open_beneath(fd, ["link"])
        replace_with_symlink(fd, "env", "real/app.env")
        replace_with_symlink(fd, "env", "other.env")
    finally:
        os.close(fd)
    assert os.readlink(tmp_path / "env") == "other.env"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["env", "link", "real"]
