"""Progress on a terminal (bytes, files, rate); nothing when stderr is not a TTY."""

from __future__ import annotations

import sys
import time

#: A rate measured over less time than this says nothing (the first chunk arrives "instantly").
MIN_RATE_WINDOW = 0.5


def human_size(size: float) -> str:
    """``1536`` -> ``"1.5 KiB"``; ``17`` -> ``"17 B"``."""
    if size < 1024:
        return f"{int(size)} B"
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        size /= 1024
        if size < 1024 or unit == "TiB":
            break
    return f"{size:.1f} {unit}"


class TerminalProgress:
    """A one-line progress display, redrawn at most ten times a second; the last state is drawn at the end."""

    def __init__(self, enabled: bool | None = None) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.start = time.monotonic()
        self._last = 0.0
        self._what = ""
        self._state = (0, 0)

    def __call__(self, what: str, done: int, files: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if what != self._what:
            if self._what:
                self._draw(now)  # the finished phase's final figures, not the last throttled ones
                sys.stderr.write("\n")
            self._what, self.start = what, now
        self._state = (done, files)
        if now - self._last < 0.1:
            return
        self._last = now
        self._draw(now)

    def line(self, now: float) -> str:
        """``configuration: 12.0 KiB, 19 files, 3.1 MiB/s`` (no rate until it means something)."""
        done, files = self._state
        elapsed = now - self.start
        count = f", {files} file{'s' if files != 1 else ''}" if files else ""
        rate = f", {human_size(done / elapsed)}/s" if elapsed >= MIN_RATE_WINDOW else ""
        return f"{self._what}: {human_size(done)}{count}{rate}"

    def _draw(self, now: float) -> None:
        sys.stderr.write(f"\r  {self.line(now)}   ")
        sys.stderr.flush()

    def finish(self) -> None:
        if self.enabled and self._what:
            self._draw(time.monotonic())
            sys.stderr.write("\n")
