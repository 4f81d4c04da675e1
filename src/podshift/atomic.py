"""Writing files so that a crash leaves either the old content or the new, never a mix.

The directories written to (a project, a backup, /etc) may be writable by
someone hostile, so nothing here trusts a name twice: a temporary is made in a
fresh 0700 directory with an unpredictable name that podshift creates itself,
its mode, owner and times are set through the open descriptor (never by a path
that may have been swapped), and it is renamed over the target relative to
the directory's descriptor.  A symlink planted at the target is replaced, not
followed.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from podshift.errors import PodshiftError

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class UnsafePath(PodshiftError):
    """A path podshift was to write through is a symlink, not a directory, or someone else's."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        super().__init__(f"{path}: {problem}")


def fsync_path(path: Path) -> None:
    """fsync a file or a directory by name (a directory, after a rename in it, makes the rename durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def open_beneath(anchor_fd: int, parts: Sequence[str], *, create_mode: int | None = None) -> int:
    """Open the directory *parts* below *anchor_fd*, one component at a time, never following a symlink.

    With *create_mode*, missing directories are made with that mode.  The
    caller closes the returned fd.
    """
    fd = os.dup(anchor_fd)
    try:
        for part in parts:
            if part in ("", ".", "..") or "/" in part:
                raise UnsafePath("/".join(parts), f"refusing the path component {part!r}")
            if create_mode is not None:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, create_mode, dir_fd=fd)
            try:
                nxt = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError as e:
                raise UnsafePath("/".join(parts), f"{part!r} is not a directory podshift may use: {e.strerror}") from e
            os.close(fd)
            fd = nxt
        return fd
    except BaseException:
        os.close(fd)
        raise


def write_file_at(
    dir_fd: int,
    name: str,
    data: bytes | Iterable[bytes],
    mode: int = 0o644,
    uid: int | None = None,
    gid: int | None = None,
    mtime_ns: int | None = None,
) -> None:
    """Replace *name* in the directory *dir_fd* with *data*, atomically and durably.

    The temporary lives in a 0700 directory podshift just made (unpredictable
    name) so nobody can rename, replace or open it meanwhile; owner, mode and
    mtime are set on the descriptor before the rename.
    """
    if not name or "/" in name or name in (".", ".."):
        raise UnsafePath(name, "not a plain file name")
    with _private_dir(dir_fd) as tmp_fd:
        fd = os.open("f", os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=tmp_fd)
        try:
            for chunk in [data] if isinstance(data, bytes | bytearray | memoryview) else data:
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view) :]
            if uid is not None and gid is not None and os.geteuid() == 0:
                os.fchown(fd, uid, gid)  # before the mode: chown clears setuid bits
            os.fchmod(fd, mode)
            if mtime_ns is not None:
                os.utime(fd, ns=(mtime_ns, mtime_ns))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename("f", name, src_dir_fd=tmp_fd, dst_dir_fd=dir_fd)
    os.fsync(dir_fd)


@contextlib.contextmanager
def _private_dir(dir_fd: int) -> Iterator[int]:
    """A fresh 0700 directory with an unpredictable name inside *dir_fd*, removed afterwards (yields its fd)."""
    name = f".podshift-tmp-{secrets.token_hex(8)}"
    os.mkdir(name, 0o700, dir_fd=dir_fd)
    fd = -1
    try:
        fd = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
        st = os.fstat(fd)
        if st.st_uid != os.geteuid() or stat.S_IMODE(st.st_mode) & 0o077:
            raise UnsafePath(name, "the private temporary directory was swapped")
        yield fd
    finally:
        if fd >= 0:
            for leftover in os.listdir(fd):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(leftover, dir_fd=fd)
            os.close(fd)
        with contextlib.suppress(OSError):
            os.rmdir(name, dir_fd=dir_fd)


def replace_with_symlink(dir_fd: int, name: str, target: str) -> None:
    """Make *name* in *dir_fd* a symlink to *target*, atomically (whatever was there is replaced, not followed)."""
    if not name or "/" in name or name in (".", ".."):
        raise UnsafePath(name, "not a plain file name")
    with _private_dir(dir_fd) as tmp_fd:
        os.symlink(target, "l", dir_fd=tmp_fd)
        os.rename("l", name, src_dir_fd=tmp_fd, dst_dir_fd=dir_fd)
    os.fsync(dir_fd)


def write_file_atomically(
    path: Path, data: bytes, mode: int = 0o644, uid: int | None = None, gid: int | None = None
) -> None:
    """Replace *path* with *data* (see :func:`write_file_at`); mode (and owner) set before the rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        write_file_at(dir_fd, path.name, data, mode, uid, gid)
    finally:
        os.close(dir_fd)
