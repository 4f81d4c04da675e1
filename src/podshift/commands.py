"""Running external programs: argv lists only, output captured and logged."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import pwd
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from podshift.errors import CommandError, ToolMissing

log = logging.getLogger("podshift.commands")
F_SETPIPE_SZ = 1031  # fcntl.F_SETPIPE_SZ (Python >= 3.10 on Linux; spelled out for type checkers)


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
        # In the user's home: the caller's working directory may be one the user cannot enter (a 0700
        # temporary directory), and podman then fails with "cannot chdir".
        return [
            "runuser",
            "-u",
            self.user,
            "--",
            "env",
            f"--chdir={self.home}",
            *(f"{k}={v}" for k, v in merged.items()),
            *argv,
        ]


def tar_directory(path: Path, chunk: int = 1 << 20) -> Iterator[bytes]:
    """A POSIX tar stream of *path*'s content (numeric owners, xattrs), read from GNU tar's stdout."""
    argv = [
        "tar",
        "--format=posix",
        "--numeric-owner",
        "--xattrs",
        "--xattrs-include=*",
        "-cf",
        "-",
        "-C",
        str(path),
        ".",
    ]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.stdout, proc.stderr
    if out is None or err is None:  # pragma: no cover - PIPE was requested
        raise CommandError(argv, -1, "no pipes")
    with contextlib.suppress(OSError):  # the default pipe size only costs speed
        fcntl.fcntl(out.fileno(), F_SETPIPE_SZ, chunk)  # fewer, larger reads
    try:
        while data := out.read(chunk):
            yield data
    finally:
        out.close()
        stderr = err.read().decode("utf-8", "replace")
        err.close()
        rc = proc.wait()
    if rc != 0:
        raise CommandError(argv, rc, stderr)


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
