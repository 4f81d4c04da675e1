"""The fast path for volumes this process may read directly (root on the engine's local driver).

Two things run at once, one per core:

* GNU tar archives the volume directory to a pipe; a pump thread copies the
  pipe into the (0600) archive file, hashes the archive and starts the
  kernel's writeback as it goes, so the fsync that makes the backup durable
  finds little left to write.
* This thread walks the same directory and records every entry (owner, mode,
  type, links, content sha256) from the filesystem.

hashlib and the file syscalls release the GIL, so the two overlap.  The
containers using the volume are stopped meanwhile, so both see the same
files.  ``--verify`` and restore still compare the archive's own members
with these entries.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import fnmatch
import hashlib
import os
import stat
import subprocess
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from podshift.backup.tarscan import Entry
from podshift.errors import CommandError, PodshiftError

TAR = [
    "tar",
    # 256 KiB records, one pump read each: tar's default 10 KiB records cost the pump several times as
    # many wake-ups, each a trip through the GIL the walk is using (about 20% of the wall time here).
    # The archive's end is padded to a whole record, so an archive is at least 256 KiB.
    "--blocking-factor=512",
    "--format=posix",
    "--pax-option=delete=atime,delete=ctime",
    "--numeric-owner",
    "--xattrs",
    "--xattrs-include=*",
    # Holes found with SEEK_HOLE are recorded, not stored: a 3 GB sparse file stays a few blocks.
    "--sparse",
]

#: Reads, writes and hashing go in blocks this big: small enough to stay in the CPU's cache
#: between the copy and the hash (1 MiB blocks cost a third more here).
BLOCK = 1 << 18
#: The pipe from tar (F_SETPIPE_SZ), so tar rarely waits for the pump.
PIPE_SIZE = 1 << 20
#: How much of the archive the pump writes before it asks the kernel to start writing it back.
WRITEBACK_EVERY = 16 << 20
_F_SETPIPE_SZ = 1031

_KINDS = {
    stat.S_IFREG: "file",
    stat.S_IFDIR: "dir",
    stat.S_IFLNK: "symlink",
    stat.S_IFIFO: "fifo",
    stat.S_IFCHR: "char",
    stat.S_IFBLK: "block",
}  # sockets are left out: tar skips them too


def _xattrs(target: int | str) -> dict[str, str]:
    """Extended attributes as tar's pax records carry them (values decoded the way tarfile decodes them)."""
    try:
        names = os.listxattr(target, follow_symlinks=False) if isinstance(target, str) else os.listxattr(target)
    except OSError:  # a filesystem without xattrs: tar records none either
        return {}
    values = {}
    for key in names:
        value = os.getxattr(target, key, follow_symlinks=False) if isinstance(target, str) else os.getxattr(target, key)
        values[key] = value.decode("utf-8", "surrogateescape")
    return values


def read_file(entry: Entry, name: str, dir_fd: int) -> None:
    """Fill in a regular file's sha256 and xattrs."""
    # One read for a small file (its size is known): most of a volume's files are small, and
    # the per-file cost of a buffered reader is most of the cost of hashing them.
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=dir_fd)
    try:
        entry.xattrs = _xattrs(fd)
        if entry.size <= BLOCK:
            data = os.read(fd, entry.size)
            if len(data) == entry.size:
                entry.sha256 = hashlib.sha256(data).hexdigest()
                return
            h = hashlib.sha256(data)
        else:
            h = hashlib.sha256()
        buffer = bytearray(BLOCK)
        view = memoryview(buffer)
        while n := os.readv(fd, [buffer]):
            h.update(view[:n])
        entry.sha256 = h.hexdigest()
    finally:
        os.close(fd)


#: Called with (relative path, lstat result) for every entry a walk records.
StatHook = Callable[[str, os.stat_result], None]


#: What the walk saw of each path (inode, ctime in ns): any write, chmod, chown, link or unlink since changes it.
Stamps = dict[str, tuple[int, int]]


class ChangedWhileRead(PodshiftError):
    """Something in the directory changed while GNU tar and the walk read it: the two may disagree."""

    def __init__(self, root: Path, paths: Sequence[str]) -> None:
        self.root, self.paths = root, list(paths)
        shown = ", ".join(repr(p or ".") for p in self.paths[:5]) + (" ..." if len(self.paths) > 5 else "")
        super().__init__(
            f"{root}: {len(self.paths)} path(s) changed while they were read ({shown}): something outside "
            "podshift's control writes there; stop it and back up again"
        )


def _stamp(st: os.stat_result) -> tuple[int, int]:
    return st.st_ino, st.st_ctime_ns


def changed_since(root: Path, stamps: Stamps) -> list[str]:
    """The paths whose inode or ctime differ from *stamps* (or that are gone): cheap, lstat only."""
    changed = []
    for rel, (ino, ctime) in stamps.items():
        try:
            st = os.lstat(os.path.join(root, rel) if rel else root)
        except FileNotFoundError:
            changed.append(rel)
            continue
        if (st.st_ino, st.st_ctime_ns) != (ino, ctime):
            changed.append(rel)
    return sorted(changed)


def walk_entries(
    root: Path,
    entries: list[Entry] | None = None,
    exclude: Sequence[str] = (),
    *,
    hashes: bool = True,
    on_stat: StatHook | None = None,
) -> list[Entry]:
    """Every entry under *root* as tar would archive it (hardlinks after the first are 'hardlink').

    Names are sorted; each directory is read through its own descriptor, so
    no path is resolved twice and no symlink is ever followed.  Entries are
    appended to *entries* as they are found (another thread may count them).
    Without *hashes* only metadata is read (no sha256, no xattrs of files):
    the quick listing a two-pass volume copy compares.  *on_stat* sees each
    entry's full lstat (ctime, inode) that :class:`Entry` does not keep.
    Paths matching an *exclude* pattern (``fnmatch``, relative to *root*) are
    left out with everything below them, as ``tar --anchored --exclude`` does.
    """
    entries = [] if entries is None else entries
    first_of_inode: dict[tuple[int, int], str] = {}
    pending = [("", str(root))]
    while pending:
        prefix, directory = pending.pop()
        try:
            _walk_directory(prefix, directory, entries, first_of_inode, pending, hashes, on_stat, tuple(exclude))
        except OSError as e:  # name the whole path: the syscalls only saw a name relative to the directory
            raise OSError(e.errno, e.strerror, os.path.join(directory, e.filename or "")) from e
    return entries


def _walk_directory(
    prefix: str,
    directory: str,
    entries: list[Entry],
    first_of_inode: dict[tuple[int, int], str],
    pending: list[tuple[str, str]],
    hashes: bool = True,
    on_stat: StatHook | None = None,
    exclude: tuple[str, ...] = (),
) -> None:
    """Record one directory's entries; queue its subdirectories (depth first, in name order)."""
    dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        subdirs = []
        for name in sorted(os.listdir(dir_fd)):
            st = os.lstat(name, dir_fd=dir_fd)
            kind = _KINDS.get(stat.S_IFMT(st.st_mode))
            if kind is None:
                continue
            rel = prefix + name
            if exclude and any(fnmatch.fnmatchcase(rel, pattern) for pattern in exclude):
                continue
            entry = Entry(rel, kind, 0, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, int(st.st_mtime))
            entries.append(entry)
            if on_stat is not None:
                on_stat(rel, st)
            if kind == "file":
                if st.st_nlink > 1:
                    first = first_of_inode.setdefault((st.st_dev, st.st_ino), rel)
                    if first != rel:
                        entry.type, entry.link = "hardlink", first
                        continue
                entry.size = st.st_size
                if hashes:
                    read_file(entry, name, dir_fd)
                continue
            path = os.path.join(directory, name)
            entry.xattrs = _xattrs(path)
            if kind == "symlink":
                entry.link = os.readlink(name, dir_fd=dir_fd)
            elif kind == "dir":
                subdirs.append((rel + "/", path))
        pending.extend(reversed(subdirs))
    finally:
        os.close(dir_fd)


class _Pump(threading.Thread):
    """Copy tar's stdout into the archive file, hashing it and starting its writeback on the way."""

    def __init__(self, source: int, dest: int, on_bytes: Callable[[int], None]) -> None:
        super().__init__(name="podshift-archive-pump", daemon=True)
        self.source, self.dest, self.on_bytes = source, dest, on_bytes  # on_bytes(bytes so far)
        self.digest = hashlib.sha256()
        self.size = 0
        self.error: OSError | None = None

    def run(self) -> None:
        try:
            self._pump()
        except OSError as e:
            self.error = e
        finally:
            os.close(self.source)  # tar gets EPIPE if the pump stopped early

    def _pump(self) -> None:
        buffer = bytearray(BLOCK)
        view = memoryview(buffer)
        started = 0  # bytes already handed to the kernel's writeback
        while n := os.readv(self.source, [buffer]):
            written = 0
            while written < n:
                written += os.write(self.dest, view[written:n])
            self.digest.update(view[:n])
            self.size += n
            self.on_bytes(self.size)
            if self.size - started >= WRITEBACK_EVERY:
                # POSIX_FADV_DONTNEED starts writeback of the range now (and drops it from the cache
                # once written), so the final fsync waits for the tail only, not for the whole archive.
                # Only speed depends on it: a filesystem that refuses the advice changes nothing else.
                with contextlib.suppress(OSError):
                    os.posix_fadvise(self.dest, started, self.size - started, os.POSIX_FADV_DONTNEED)
                started = self.size


def archive_directory(
    root: Path,
    dest: int,
    progress: Callable[[int, int], None] = lambda size, files: None,
    exclude: Sequence[str] = (),
) -> tuple[list[Entry], str, int]:
    """Archive *root* into the open file descriptor *dest* with GNU tar; return entries, sha256, size.

    The caller owns *dest* (created 0600) and fsyncs it.  *progress* gets
    (archive bytes written, entries recorded) as the archive grows.  Paths
    matching *exclude* (relative to *root*) are in neither the archive nor
    the entries.  Anything that changes meanwhile (a write, chmod, an added
    or removed entry: all change a ctime) raises :class:`ChangedWhileRead`,
    so the entries and the archive are known to describe the same files.
    """
    entries: list[Entry] = []
    # Taken before anything is read; each entry's is taken (by the walk) before it is read.
    stamps: Stamps = {"": _stamp(os.lstat(root))}
    excludes = ["--anchored", *(f"--exclude=./{pattern}" for pattern in exclude)] if exclude else []
    argv = [*TAR, *excludes, "-cf", "-", "-C", str(root), "."]
    # tar's messages go to a file: a pipe nobody reads until the end could fill and stall tar.
    with tempfile.TemporaryFile() as messages:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=messages)
        if proc.stdout is None:  # pragma: no cover - PIPE was requested
            raise CommandError(argv, -1, "no pipe")
        with contextlib.suppress(OSError):  # the default pipe size only costs speed
            fcntl.fcntl(proc.stdout.fileno(), _F_SETPIPE_SZ, PIPE_SIZE)
        pump = _Pump(os.dup(proc.stdout.fileno()), dest, lambda size: progress(size, len(entries)))
        proc.stdout.close()
        pump.start()
        try:
            walk_entries(root, entries, exclude, on_stat=lambda rel, st: stamps.update({rel: _stamp(st)}))
        except BaseException:
            proc.kill()
            raise
        finally:
            pump.join()
            proc.wait()
        messages.seek(0)
        stderr = messages.read().decode("utf-8", "replace")
    if pump.error is not None:
        raise pump.error
    if proc.returncode != 0 and "No space left" in stderr:
        raise OSError(errno.ENOSPC, "No space left on device")
    # Before tar's own exit status: a writer that tar caught in the act ("file changed as we read it",
    # exit 1) is named by path, as when only the walk saw it.
    changed = changed_since(root, stamps)
    if changed:
        raise ChangedWhileRead(root, changed)
    if proc.returncode != 0:
        raise CommandError(argv, proc.returncode, stderr)
    return entries, pump.digest.hexdigest(), pump.size
