"""Run a command on a real pseudo-terminal and answer its prompt, as a person at a keyboard would.

``isatty()`` is true for the child, so interactive paths (a plan, then a
typed confirmation) run exactly as they do for a user; no fork of the test
process (pytest is multi-threaded), only a subprocess on the pty's far end.
"""

from __future__ import annotations

import os
import select
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TerminalRun:
    returncode: int
    output: str


def on_terminal(
    argv: Sequence[str], *, prompt: str, answer: str, env: Mapping[str, str], cwd: Path, timeout: float = 600
) -> TerminalRun:
    """Run *argv* with a pty as stdin/stdout/stderr; type *answer* once *prompt* appears."""
    master, slave = os.openpty()
    proc = subprocess.Popen(
        list(argv), stdin=slave, stdout=slave, stderr=slave, env=dict(env), cwd=cwd, start_new_session=True
    )
    os.close(slave)
    out = bytearray()
    answered = False
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed its end
                break
            if not chunk:
                break
            out += chunk
            if not answered and prompt.encode() in out:
                os.write(master, answer.encode() + b"\n")
                answered = True
        else:
            proc.kill()
        return TerminalRun(proc.wait(timeout=60), out.decode("utf-8", "replace"))
    finally:
        os.close(master)
