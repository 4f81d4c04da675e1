"""Domain errors.  Each carries the context a user needs to act on it.

Every error podshift raises on purpose derives from :class:`PodshiftError`;
the CLI and the pytest plugin turn them into one clear line, never a
traceback.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


class PodshiftError(Exception):
    """Base class: a failure podshift understands and can explain."""


class ProjectError(PodshiftError):
    """The target project directory or its compose files are unusable."""

    def __init__(self, path: Path | str, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"project {self.path}: {problem}")


class EngineUnavailable(PodshiftError):
    """A container engine cannot be reached on its socket."""

    def __init__(self, engine: str, socket: str, reason: str, hint: str) -> None:
        self.engine = engine
        self.socket = socket
        self.reason = reason
        self.hint = hint
        super().__init__(f"{engine} engine not reachable at {socket}: {reason}. {hint}")


class EngineError(PodshiftError):
    """An engine answered, but refused or failed an operation."""

    def __init__(self, engine: str, operation: str, detail: str) -> None:
        self.engine = engine
        self.operation = operation
        self.detail = detail
        super().__init__(f"{engine}: {operation} failed: {detail}")


class CommandError(PodshiftError):
    """An external tool (compose provider, engine CLI) exited non-zero."""

    def __init__(self, argv: Sequence[str], returncode: int, stderr: str) -> None:
        self.argv = list(argv)
        self.returncode = returncode
        self.stderr = stderr
        tail = stderr.strip().splitlines()[-5:]
        detail = "\n  ".join(tail) if tail else "(no output on stderr)"
        super().__init__(f"`{' '.join(self.argv[:4])}…` exited {returncode}:\n  {detail}")


class ToolMissing(PodshiftError):
    """A required external program is not installed."""

    def __init__(self, tool: str, hint: str) -> None:
        self.tool = tool
        self.hint = hint
        super().__init__(f"{tool} not found. {hint}")


class WaiverError(PodshiftError):
    """The waiver file cannot be used as it is."""

    def __init__(self, path: Path | str, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"waiver file {self.path}: {problem}")
