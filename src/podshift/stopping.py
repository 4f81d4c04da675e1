"""Containers podshift stops for a while (to read their data) always run again afterwards.

Before the first container is stopped, ``<project>/.podshift/stopped.json``
records which ones (and which engine, and which process) — so that a run
killed with ``kill -9`` leaves a note, and the next podshift run on the
project restarts them (:func:`restart_leftovers`).  SIGTERM and SIGINT
while they are stopped raise :class:`Interrupted` in the main thread, so the
normal clean-up restarts them before the process exits.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType

from podshift.atomic import write_file_at
from podshift.errors import PodshiftError
from podshift.paths import open_project_state_dir, project_state_dir
from podshift.runtimes.base import Runtime

RECORD_NAME = "stopped.json"
log = logging.getLogger("podshift.stopping")


class Interrupted(PodshiftError):
    """SIGTERM or SIGINT arrived while containers were stopped (they were started again)."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"interrupted by {signal.Signals(signum).name}; the containers podshift stopped were started")


def _read(state_fd: int) -> dict[str, object] | None:
    try:
        fd = os.open(RECORD_NAME, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=state_fd)
    except FileNotFoundError:
        return None
    with os.fdopen(fd, "rb") as f:
        try:
            data = json.loads(f.read(1 << 20))
        except ValueError:
            return None
    return data if isinstance(data, dict) else None


def _write(state_fd: int, record: dict[str, object] | None) -> None:
    if record is None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(RECORD_NAME, dir_fd=state_fd)
        os.fsync(state_fd)
        return
    write_file_at(state_fd, RECORD_NAME, json.dumps(record).encode(), 0o600)


def restart_leftovers(runtime: Runtime, project_dir: Path) -> list[str]:
    """Start again what an earlier, killed podshift run stopped on *runtime*; returns their names."""
    state_fd = open_project_state_dir(project_dir)
    try:
        record = _read(state_fd)
        if not record or record.get("engine") != runtime.label:
            return []
        pid = record.get("pid")
        if isinstance(pid, int) and pid != os.getpid() and os.path.exists(f"/proc/{pid}"):
            return []  # still running: its own clean-up will start them
        raw = record.get("containers")
        names = [n for n in raw if isinstance(n, str)] if isinstance(raw, list) else []
        for name in names:
            log.info("starting %s, which an interrupted podshift run (pid %s) stopped", name, pid)
            runtime.start(name)
        _write(state_fd, None)
        return names
    finally:
        os.close(state_fd)


class _Signals:
    """While active, SIGTERM/SIGINT raise :class:`Interrupted`; while :attr:`holding`, they wait instead.

    Handlers can only be set from the main thread; elsewhere this does nothing.
    """

    def __init__(self) -> None:
        self.holding = False
        self.pending: int | None = None
        self._previous: dict[int, object] = {}

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        if self.holding:
            self.pending = signum
            return
        raise Interrupted(signum)

    def __enter__(self) -> _Signals:
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._handler) for s in (signal.SIGTERM, signal.SIGINT)}
        return self

    def __exit__(self, *exc: object) -> None:
        for s, h in self._previous.items():
            signal.signal(s, h)  # type: ignore[arg-type]  # what signal.signal returned before


@contextlib.contextmanager
def stopped(runtime: Runtime, project_dir: Path, containers: Sequence[str], why: str) -> Iterator[None]:
    """Stop *containers* for the duration of the block, and start them again whatever happens."""
    if not containers:
        yield
        return
    state_fd = open_project_state_dir(project_dir)
    try:
        with _Signals() as signals:
            # Recorded first: a kill -9 between here and the restart leaves the note for the next run.
            _write(state_fd, {"engine": runtime.label, "pid": os.getpid(), "containers": list(containers), "why": why})
            try:
                for name in containers:
                    log.info("stopping %s while %s", name, why)
                    runtime.stop(name)
                yield
            finally:
                signals.holding = True  # a second SIGTERM must not cut the restart short
                for name in containers:
                    log.info("starting %s again", name)
                    runtime.start(name)
                _write(state_fd, None)
                signals.holding = False
            if signals.pending is not None:
                raise Interrupted(signals.pending)
    finally:
        os.close(state_fd)


def record_path(project_dir: Path) -> Path:
    """Where the note of stopped containers lives (for messages)."""
    return project_state_dir(project_dir) / RECORD_NAME
