"""Progress on a terminal (bytes, files, rate); nothing when stderr is not a TTY."""

from __future__ import annotations

import sys
import time


class TerminalProgress:
    """A one-line progress display, redrawn at most ten times a second."""

    def __init__(self, enabled: bool | None = None) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.start = time.monotonic()
        self._last = 0.0
        self._what = ""

    def __call__(self, what: str, done: int, files: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if what != self._what:
            self._what, self.start = what, now
        if now - self._last < 0.1:
            return
        self._last = now
        rate = done / max(now - self.start, 1e-6) / 2**20
        count = f", {files} files" if files else ""
        sys.stderr.write(f"\r  {what}: {done / 2**20:8.1f} MiB{count}, {rate:6.1f} MiB/s   ")
        sys.stderr.flush()

    def finish(self) -> None:
        if self.enabled and self._what:
            sys.stderr.write("\n")
