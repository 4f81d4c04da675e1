"""One lock per project: a second concurrent action refuses, naming the holder.

The lock is ``<project>/.podshift/lock``: opened relative to the project
state directory's descriptor and never through a symlink, so a planted link
cannot make podshift (often root) write to another file.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from podshift.errors import PodshiftError
from podshift.paths import open_project_state_dir, project_state_dir

LOCK_NAME = "lock"


class LockHeld(PodshiftError):
    def __init__(self, path: Path, holder: str) -> None:
        self.path = path
        self.holder = holder
        super().__init__(f"another podshift action holds {path}: {holder or 'unknown holder'}; wait for it to finish")


class LockError(PodshiftError):
    """The lock file cannot be made or written (read-only, full or foreign project directory)."""

    def __init__(self, path: Path, problem: str) -> None:
        self.path = path
        super().__init__(f"project lock {path}: {problem}")


def lock_path(project_dir: Path) -> Path:
    """Where the project's lock lives."""
    return project_state_dir(project_dir) / LOCK_NAME


@contextlib.contextmanager
def project_lock(project_dir: Path, action: str) -> Iterator[None]:
    """Hold ``<project>/.podshift/lock`` for the duration of *action* (never blocks: refuses)."""
    path = lock_path(project_dir)
    state_fd = open_project_state_dir(project_dir)
    try:
        fd = os.open(LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=state_fd)
    except OSError as e:
        problem = "it is a symlink: remove it" if e.errno == errno.ELOOP else f"cannot open it: {e.strerror}"
        raise LockError(path, problem) from e
    finally:
        os.close(state_fd)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip()
            raise LockHeld(path, holder) from None
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        line = f"pid {os.getpid()}: podshift {action} (since {stamp}; {' '.join(sys.argv[:3])})\n"
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, line.encode(), 0)
        except OSError as e:  # the holder line is for people; the flock is the lock
            if e.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise LockError(path, f"cannot write it: {e.strerror}") from e
        yield
    finally:
        os.close(fd)  # closing drops the flock
