"""Awkward volume content, and what a container of either engine sees of a volume (shared by the tests)."""

from __future__ import annotations

import os
from pathlib import Path

from podshift.images import ensure_helper_image
from podshift.runtimes import Runtime
from podshift.runtimes.base import Mount

#: What a container sees: name, owner, mode, type, links; file sizes; link targets; contents.
#: (A directory's own size depends on the filesystem's history, not on its entries: left out.)
LISTING = (
    "cd /v && find . -exec stat -c '%n|%u|%g|%a|%F|%h' {} + | sort"
    " && find . -type f -exec stat -c '%n|%s' {} + | sort"
    " && find . -type l -exec ls -l {} + | sed 's/.* \\.\\//.\\//' | sort"
    " && find . -type f -exec md5sum {} + | sort"
)


def in_container(runtime: Runtime, volume: str) -> str:
    image = ensure_helper_image(runtime)
    result = runtime.run(image, ["sh", "-c", LISTING], mounts=[Mount(volume, "/v", read_only=True)])
    assert result.rc == 0, result.stderr
    return result.stdout


def fill(root: Path, small_files: int = 300) -> None:
    """Awkward content, written as root straight into a host-readable volume."""
    (root / "secret").write_text("only 999")
    os.chown(root / "secret", 999, 999)
    os.chmod(root / "secret", 0o600)
    (root / "setuid").write_bytes(b"#!/bin/sh\n")
    os.chmod(root / "setuid", 0o4755)  # noqa: S103 - awkward content on purpose
    (root / "sticky").mkdir()
    os.chmod(root / "sticky", 0o1777)  # noqa: S103 - awkward content on purpose
    (root / "a").mkdir()
    (root / "b").mkdir()
    (root / "a" / "linked").write_text("one inode, two names")
    os.link(root / "a" / "linked", root / "b" / "also linked")
    os.symlink("/etc/passwd", root / "abs-link")
    os.symlink("../secret", root / "a" / "rel-link")
    os.symlink("nowhere", root / "dangling")
    with open(root / "sparse", "wb") as f:
        f.truncate(64 << 20)
        f.seek(32 << 20)
        f.write(b"middle")
    (root / "name with spaces").write_text("s")
    (root / "new\nline").write_text("n")
    (root / "ünïcødé ✓").write_text("u")
    (root / "-rf").write_text("an option-like name")
    deep = root
    for i in range(20):
        deep = deep / f"d{i}"
    deep.mkdir(parents=True)
    (deep / "bottom").write_text("20 deep")
    many = root / "many"
    many.mkdir()
    for i in range(small_files):
        (many / f"f{i:05d}").write_bytes(os.urandom(64) * 16)
    os.setxattr(root / "secret", "user.podshift", b"kept")
    os.chown(root / "a", 999, 100)
    os.chmod(root, 0o750)  # noqa: S103 - the top directory is part of the data
    os.chown(root, 999, 999)
