"""Fixes: a name, a scope, a plan that says exactly what will change, and an apply that journals it.

A :class:`Fix` plans first (:meth:`Fix.plan` returns file diffs and exact
commands, or raises :class:`FixRefused` when its preconditions do not hold)
and changes nothing until :func:`apply_plan` runs, which records what every
change replaces in the journal *before* making it.
"""

from __future__ import annotations

import abc
import difflib
import hashlib
import os
import pwd
import shlex
import socket
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal

from podshift.atomic import write_file_atomically
from podshift.commands import RunAs, run, start_detached
from podshift.errors import PodshiftError
from podshift.journal import CommandRecord, FileRecord, Journal, JournalEntry

if TYPE_CHECKING:
    import pytest

    from podshift.compose.model import ComposeProject

Scope = Literal["user", "project", "system"]


class FixRefused(PodshiftError):
    """A fix's preconditions do not hold; the reason says which."""

    def __init__(self, fix: str, reason: str) -> None:
        self.fix = fix
        self.reason = reason
        super().__init__(f"{fix} refused: {reason}")


class FixFailed(PodshiftError):
    def __init__(self, fix: str, detail: str) -> None:
        self.fix = fix
        super().__init__(f"{fix} failed: {detail}")


@dataclass(frozen=True)
class FileChange:
    """Replace (or create) one file with *after*."""

    path: Path
    after: bytes
    mode: int = 0o644
    owner: str | None = None  # user name; None keeps the current owner (or root's for new files)

    def before(self) -> bytes | None:
        return self.path.read_bytes() if self.path.exists() else None

    def diff(self) -> str:
        before = self.before()
        old = (before or b"").decode("utf-8", "replace").splitlines(keepends=True)
        new = self.after.decode("utf-8", "replace").splitlines(keepends=True)
        label = str(self.path)
        text = "".join(
            difflib.unified_diff(
                old, new, f"{label} (now)" if before is not None else "/dev/null", f"{label} (after fix)"
            )
        )
        return text or f"(no change to {label})\n"

    @property
    def changes_anything(self) -> bool:
        return self.before() != self.after


@dataclass(frozen=True)
class CommandStep:
    """A command to run, and the command that undoes it."""

    argv: tuple[str, ...]
    undo: tuple[str, ...] = ()
    run_as: str | None = None
    #: a long-running service: started in its own session with no pipes, not waited for
    detach: bool = False
    #: with detach: a unix socket that must accept connections before the step counts as done
    ready_socket: str | None = None

    def render(self) -> str:
        prefix = f"(as {self.run_as}) " if self.run_as else ""
        return prefix + shlex.join(self.argv) + (" &" if self.detach else "")

    def execute(self) -> None:
        run_as = RunAs(self.run_as) if self.run_as else None
        if self.detach:
            try:
                start_detached(self.argv, run_as=run_as)
            except PodshiftError as e:
                raise FixFailed(self.render(), str(e)) from e
            if self.ready_socket is not None:
                self._wait_for_socket(self.ready_socket)
            return
        result = run(list(self.argv), run_as=run_as, timeout=300)
        if not result.succeeded:
            raise FixFailed(self.render(), f"exited {result.rc}: {result.stderr.strip()[-500:]}")

    def _wait_for_socket(self, path: str, timeout: float = 30) -> None:
        """Wait until an HTTP API on *path* answers ``GET /_ping`` with 200.

        A bare connect is not enough: rootless Podman re-execs into its user
        namespace and re-creates the socket, so the first listener goes away.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with socket.socket(socket.AF_UNIX) as s:
                s.settimeout(2)
                try:
                    s.connect(path)
                    s.sendall(b"GET /_ping HTTP/1.0\r\nHost: podshift\r\n\r\n")
                    status_line = s.recv(64).split(b"\r\n", 1)[0]  # e.g. b"HTTP/1.1 200 OK"
                    if status_line.split(b" ")[1:2] == [b"200"]:
                        return
                except OSError:
                    pass
            time.sleep(0.2)
        raise FixFailed(self.render(), f"started, but nothing answered on {path} within {timeout:.0f}s")


@dataclass(frozen=True)
class VolumeMove:
    """A volume's data to be copied (or restored): where from, where to, how much."""

    name: str
    size: int
    source: str  # e.g. "docker:phoenix_api-data"
    target: str  # e.g. "podman(podshift):phoenix_api-data"

    def render(self) -> str:
        return f"volume {self.name}: {self.source} -> {self.target} ({self.size / 2**20:.1f} MiB)"


@dataclass(frozen=True)
class Plan:
    """Exactly what a fix (or a step) will change."""

    fix: str
    scope: Scope
    summary: str
    files: tuple[FileChange, ...] = ()
    commands: tuple[CommandStep, ...] = ()
    notes: tuple[str, ...] = field(default=())
    #: files the commands change (e.g. usermod and /etc/subuid): journaled so revert restores their bytes
    touches: tuple[Path, ...] = ()
    #: volume data a step copies
    volumes: tuple[VolumeMove, ...] = ()
    #: What the change means for the host's security (required for system scope: who gains what).
    security_effect: str = ""

    @property
    def empty(self) -> bool:
        return not self.commands and not self.volumes and not any(f.changes_anything for f in self.files)

    def render(self) -> str:
        """The plan as a user reads it: the diff is the documentation."""
        lines = [f"{self.fix} ({self.scope} scope): {self.summary}"]
        if self.security_effect:
            lines.append(f"security effect: {self.security_effect}")
        elif self.scope == "system" and not self.empty:
            # Every podshift system fix states it; a third party's may not: say so rather than imply "none".
            lines.append("security effect: not stated by this fix — read the change below before applying it")
        for f in self.files:
            if f.changes_anything:
                lines.append(f.diff().rstrip("\n"))
        for c in self.commands:
            lines.append(f"$ {c.render()}")
        lines += [v.render() for v in self.volumes]
        lines += list(self.notes)
        return "\n".join(lines)


@dataclass
class FixContext:
    """What a fix may look at while planning."""

    config: pytest.Config
    project: ComposeProject
    podman_user: str
    check: str = ""

    @property
    def podman_home(self) -> Path:
        return Path(pwd.getpwnam(self.podman_user).pw_dir)


class Fix(abc.ABC):
    """One named repair.  Subclasses set ``name``, ``scope`` and implement :meth:`plan`."""

    name: ClassVar[str]
    scope: ClassVar[Scope]

    @abc.abstractmethod
    def plan(self, ctx: FixContext) -> Plan:
        """What this fix would change on this host now (raise :class:`FixRefused` if it cannot)."""

    def __repr__(self) -> str:
        return f"<Fix {self.name} ({self.scope})>"


def may_apply(plan: Plan, allow_system: bool) -> str | None:
    """Why *plan* may not be applied by this process, or None."""
    if plan.scope == "system":
        if not allow_system:
            return "it changes the system: re-run with --allow-system-changes (as root)"
        if os.geteuid() != 0:
            return "it changes the system and needs root: re-run with sudo and --allow-system-changes"
    return None


def apply_plan(plan: Plan, journal: Journal, check: str, project: Path | None = None) -> JournalEntry:
    """Apply *plan* (for *project*), journaling what each change replaces before making it."""
    entry = JournalEntry(fix=plan.fix, scope=plan.scope, check=check, summary=plan.summary, project=str(project or ""))
    with journal.locked():
        entry.files = [
            replace(FileRecord.of(f.path), written_sha256=hashlib.sha256(f.after).hexdigest())
            for f in plan.files
            if f.changes_anything
        ]
        entry.files += [FileRecord.of(p) for p in plan.touches]
        entry.commands = [CommandRecord(list(c.argv), list(c.undo), c.run_as, c.detach) for c in plan.commands]
        journal.append(entry)  # journaled first: a crash mid-fix can still be reverted
        try:
            for f in plan.files:
                if not f.changes_anything:
                    continue
                uid = gid = None
                if f.owner is not None:
                    pw = pwd.getpwnam(f.owner)
                    uid, gid = pw.pw_uid, pw.pw_gid
                elif f.path.exists():
                    st = f.path.stat()
                    uid, gid = st.st_uid, st.st_gid
                write_file_atomically(f.path, f.after, f.mode, uid, gid)
            for c in plan.commands:
                c.execute()
        except FixFailed as e:
            raise FixFailed(plan.fix, str(e)) from e
        except (OSError, PodshiftError) as e:
            raise FixFailed(plan.fix, str(e)) from e
    return entry
