"""Running external programs: argv lists only, output captured and logged."""

from __future__ import annotations

import logging
import os
import pwd
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from podshift.errors import CommandError, ToolMissing

log = logging.getLogger("podshift.commands")


@dataclass(frozen=True)
class CommandResult:
    """What a finished program left behind (testinfra's shape: rc/stdout/stderr)."""

    argv: tuple[str, ...]
    rc: int
    stdout: str
    stderr: str

    @property
    def succeeded(self) -> bool:
        return self.rc == 0

    def check(self) -> CommandResult:
        """Return self, or raise :class:`CommandError` carrying the program's stderr."""
        if self.rc != 0:
            raise CommandError(self.argv, self.rc, self.stderr or self.stdout)
        return self


@dataclass(frozen=True)
class RunAs:
    """Run programs as another (normal) user, with that user's rootless environment.

    Used when podshift runs as root but drives a rootless Podman: the CLI
    must run as the owner of the storage, with its XDG_RUNTIME_DIR and HOME.
    """

    user: str

    @property
    def uid(self) -> int:
        return pwd.getpwnam(self.user).pw_uid

    @property
    def home(self) -> str:
        return pwd.getpwnam(self.user).pw_dir

    @property
    def runtime_dir(self) -> str:
        return f"/run/user/{self.uid}"

    def env(self) -> dict[str, str]:
        return {
            "HOME": self.home,
            "USER": self.user,
            "LOGNAME": self.user,
            "XDG_RUNTIME_DIR": self.runtime_dir,
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        }

    def wrap(self, argv: Sequence[str], env: Mapping[str, str] | None = None) -> list[str]:
        """The argv that runs *argv* as this user (no-op when we already are it)."""
        if os.geteuid() == self.uid:
            return list(argv)
        merged = {**self.env(), **(env or {})}
        return ["runuser", "-u", self.user, "--", "env", *(f"{k}={v}" for k, v in merged.items()), *argv]


def start_detached(argv: Sequence[str], *, run_as: RunAs | None = None) -> None:
    """Start a long-running service in its own session and return at once.

    ``setsid -f`` forks, so the program outlives this process without a
    Popen object left to reap it; its stdio is /dev/null, so nothing waits
    on a pipe it holds open.
    """
    full = ["setsid", "-f", *argv]
    full = run_as.wrap(full) if run_as else full
    log.debug("start detached: %s", full)
    try:
        proc = subprocess.run(
            full,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
            timeout=30,
        )
    except FileNotFoundError as e:
        raise ToolMissing(full[0], f"install {full[0]} or put it on PATH") from e
    if proc.returncode != 0:
        raise CommandError(full, proc.returncode, "could not start it in the background")


def run(
    argv: Sequence[str],
    *,
    cwd: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    run_as: RunAs | None = None,
    timeout: float | None = None,
    input_bytes: bytes | None = None,
) -> CommandResult:
    """Run *argv* (never through a shell) and capture its output.

    *env* is added to the current environment.  A missing program raises
    :class:`ToolMissing`; a non-zero exit does not raise (call ``.check()``).
    """
    full = run_as.wrap(argv, env) if run_as else list(argv)
    full_env = {**os.environ, **(env or {})}
    log.debug("run: %s (cwd=%s)", full, cwd)
    try:
        proc = subprocess.run(
            full,
            cwd=cwd,
            env=full_env,
            input=input_bytes,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as e:
        raise ToolMissing(full[0], f"install {full[0]} or put it on PATH") from e
    except subprocess.TimeoutExpired as e:
        raise CommandError(full, -1, f"timed out after {timeout}s") from e
    result = CommandResult(
        tuple(full),
        proc.returncode,
        proc.stdout.decode("utf-8", "replace"),
        proc.stderr.decode("utf-8", "replace"),
    )
    log.debug("rc=%s stdout=%r stderr=%r", result.rc, result.stdout[-2000:], result.stderr[-2000:])
    return result
