"""The fast path for volumes this process may read directly (root on the engine's local driver).

GNU tar writes the archive file itself, exactly as a plain ``tar -cf`` would,
while this process walks the same directory and records every entry (owner,
mode, type, links, content sha256) from the filesystem; hashlib releases the
GIL, so the walk overlaps with tar on another core.  The containers using the
volume are stopped meanwhile, so both see the same files.  ``--verify`` and
restore still compare the archive's own members with these entries.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from podshift.backup.tarscan import Entry
from podshift.errors import CommandError

TAR = [
    "tar",
    "--format=posix",
    "--pax-option=delete=atime,delete=ctime",
    "--numeric-owner",
    "--xattrs",
    "--xattrs-include=*",
]


def _kind(mode: int) -> str | None:
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISLNK(mode):
        return "symlink"
    if stat.S_ISFIFO(mode):
        return "fifo"
    if stat.S_ISCHR(mode):
        return "char"
    if stat.S_ISBLK(mode):
        return "block"
    return None  # sockets: tar skips them too


def _digest(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


#: Files at least this big are hashed on the pool; a future per small file costs more than hashing it.
LARGE = 1 << 20


def walk_entries(root: Path, workers: int = 2) -> list[Entry]:
    """Every entry under *root* as tar would archive it (hardlinks after the first are 'hardlink')."""
    entries: list[Entry] = []
    first_of_inode: dict[tuple[int, int], str] = {}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending = []
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            prefix = os.path.relpath(dirpath, root)
            prefix = "" if prefix == "." else prefix + "/"
            for name in sorted([*dirnames, *filenames]):
                full = os.path.join(dirpath, name)
                st = os.lstat(full)
                kind = _kind(st.st_mode)
                if kind is None:
                    continue
                rel = prefix + name
                entry = Entry(
                    path=rel,
                    type=kind,
                    size=st.st_size if kind == "file" else 0,
                    mode=stat.S_IMODE(st.st_mode),
                    uid=st.st_uid,
                    gid=st.st_gid,
                    mtime=int(st.st_mtime),
                )
                if kind == "symlink":
                    entry.link = os.readlink(full)
                elif kind == "file" and st.st_nlink > 1:
                    key = (st.st_dev, st.st_ino)
                    if key in first_of_inode:
                        entry.type, entry.link, entry.size = "hardlink", first_of_inode[key], 0
                    else:
                        first_of_inode[key] = rel
                if entry.type == "file":
                    if st.st_size >= LARGE:
                        pending.append((entry, pool.submit(_digest, full)))
                    else:
                        entry.sha256 = _digest(full)
                entries.append(entry)
        for entry, future in pending:
            entry.sha256 = future.result()
    return entries


def archive_directory(root: Path, dest: Path) -> tuple[list[Entry], str, int]:
    """Write *root* to the (already created, 0600) file *dest* with GNU tar; return entries, sha256, size."""
    argv = [*TAR, "-cf", str(dest), "-C", str(root), "."]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        entries = walk_entries(root)
    finally:
        _, err = proc.communicate()
    if proc.returncode != 0:
        stderr = err.decode("utf-8", "replace")
        vfs = os.statvfs(dest.parent)
        if "No space left" in stderr or "Wrote only" in stderr or vfs.f_bavail * vfs.f_frsize < 1 << 20:
            raise OSError(errno.ENOSPC, "No space left on device", str(dest))
        raise CommandError(argv, proc.returncode, stderr)
    with open(dest, "rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
    return entries, digest, dest.stat().st_size
