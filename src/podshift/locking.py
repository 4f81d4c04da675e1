"""One lock per project: a second concurrent action refuses, naming the holder."""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from podshift.errors import PodshiftError

LOCK_NAME = ".podshift.lock"


class LockHeld(PodshiftError):
    def __init__(self, path: Path, holder: str) -> None:
        self.holder = holder
        super().__init__(f"another podshift action holds {path}: {holder or 'unknown holder'}; wait for it to finish")


@contextlib.contextmanager
def project_lock(project_dir: Path, action: str) -> Iterator[None]:
    """Hold ``<project>/.podshift.lock`` for the duration of *action* (never blocks: refuses)."""
    path = project_dir / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip()
            raise LockHeld(path, holder) from None
        os.ftruncate(fd, 0)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        os.pwrite(fd, f"pid {os.getpid()}: podshift {action} (since {stamp}; {' '.join(sys.argv[:3])})\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing drops the flock
