"""The fixes journal: what every applied fix replaced, so that it can be undone.

``fixes-journal.json`` in the host state directory (``/var/lib/podshift`` for
root, ``$XDG_STATE_HOME/podshift`` otherwise; see :mod:`podshift.paths`) holds
one entry per applied fix, tagged with the project it was applied for, with the
exact bytes, mode and owner of every file it changed (or that the file did
not exist) and the command that undoes every command it ran.  Writes are
atomic (temporary sibling, fsync, rename) and serialized by a lock file, so
a crash leaves the previous journal intact and two processes never
interleave.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from podshift.atomic import write_file_atomically
from podshift.commands import RunAs, run
from podshift.errors import PodshiftError
from podshift.paths import host_state_dir

log = logging.getLogger("podshift.journal")

JOURNAL_NAME = "fixes-journal.json"
#: Environment variable naming another journal file (tests, or a journal kept elsewhere).
JOURNAL_ENV = "PODSHIFT_FIXES_JOURNAL"
#: Where podshift before 0.2 kept the journal: the checkout's reports/ (only a checkout has one).
LEGACY_JOURNAL = Path(__file__).resolve().parents[2] / "reports" / JOURNAL_NAME
CARRIED_OVER_SUFFIX = ".carried-over"


def journal_path() -> Path:
    """``$PODSHIFT_FIXES_JOURNAL``, or ``fixes-journal.json`` in this user's host state directory."""
    override = os.environ.get(JOURNAL_ENV)
    return Path(override) if override else host_state_dir() / JOURNAL_NAME


def open_journal(legacy: Path = LEGACY_JOURNAL) -> Journal:
    """The journal at :func:`journal_path`, after carrying over a journal left at the old path once.

    Entries of the old journal (``<checkout>/reports/fixes-journal.json``) are
    added to the new one and the old file is renamed ``*.carried-over``, so
    ``podshift fixes revert`` still undoes fixes applied before the move, and
    they are never carried twice.  An overridden path (``PODSHIFT_FIXES_JOURNAL``)
    carries nothing.
    """
    journal = Journal(journal_path())
    if os.environ.get(JOURNAL_ENV) or legacy == journal.path or not legacy.is_file():
        return journal
    with journal.locked():
        if not legacy.is_file():  # another process carried it over while we waited
            return journal
        old = Journal(legacy).entries()
        current = journal.entries()
        known = {e.id for e in current}
        journal._save([*(e for e in old if e.id not in known), *current])
        legacy.rename(legacy.with_name(legacy.name + CARRIED_OVER_SUFFIX))
    log.info("carried %d fix(es) over from %s to %s", len(old), legacy, journal.path)
    return journal


class JournalError(PodshiftError):
    def __init__(self, path: Path, problem: str) -> None:
        self.path = path
        super().__init__(f"fixes journal {path}: {problem}")


@dataclass
class FileRecord:
    """A file as it was before a fix changed it."""

    path: str
    existed: bool
    content_b64: str = ""
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    #: sha256 of the bytes the fix wrote ("" when a command changed the file): revert
    #: refuses to throw away a file that has changed since.
    written_sha256: str = ""

    @classmethod
    def of(cls, path: Path) -> FileRecord:
        if not path.exists():
            return cls(str(path), existed=False)
        st = path.stat()
        return cls(
            str(path), True, base64.b64encode(path.read_bytes()).decode(), st.st_mode & 0o7777, st.st_uid, st.st_gid
        )

    def __post_init__(self) -> None:
        """Refuse what this podshift did not write: a record is replayed as root, byte for byte."""
        if not isinstance(self.path, str) or not os.path.isabs(self.path) or not isinstance(self.existed, bool):
            raise ValueError(f"file record {self.path!r}: path must be absolute, existed a boolean")
        for name in ("mode", "uid", "gid"):
            if type(getattr(self, name)) is not int:
                raise ValueError(f"file record {self.path}: {name} must be an integer, not {getattr(self, name)!r}")
        try:
            base64.b64decode(self.content_b64, validate=True)
        except (ValueError, TypeError) as e:
            raise ValueError(f"file record {self.path}: content_b64 is not base64 ({e})") from e

    def changed_since_fix(self) -> bool:
        """Whether the file now holds bytes neither the fix wrote nor it replaced (someone edited it)."""
        if not self.written_sha256:
            return False
        path = Path(self.path)
        try:
            now = hashlib.sha256(path.read_bytes()).hexdigest()
        except FileNotFoundError:
            now = None
        before = hashlib.sha256(base64.b64decode(self.content_b64)).hexdigest() if self.existed else None
        return now not in (self.written_sha256, before)

    def set_aside(self) -> Path:
        """Keep the file's current bytes beside it (``NAME.podshift-yours-TIMESTAMP``) before a forced revert."""
        path = Path(self.path)
        st = path.stat()
        aside = path.with_name(f"{path.name}.podshift-yours-{time.strftime('%Y%m%d-%H%M%S')}")
        write_file_atomically(aside, path.read_bytes(), st.st_mode & 0o7777, st.st_uid, st.st_gid)
        return aside

    def restore(self) -> None:
        path = Path(self.path)
        if not self.existed:
            path.unlink(missing_ok=True)
            return
        write_file_atomically(path, base64.b64decode(self.content_b64, validate=True), self.mode, self.uid, self.gid)


@dataclass
class CommandRecord:
    """A command a fix ran, and the one that undoes it (empty: nothing to undo)."""

    argv: list[str]
    undo: list[str]
    run_as: str | None = None
    detach: bool = False


@dataclass
class JournalEntry:
    fix: str
    scope: str
    check: str
    summary: str
    files: list[FileRecord] = field(default_factory=list)
    commands: list[CommandRecord] = field(default_factory=list)
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    applied_at: float = field(default_factory=time.time)
    #: the project directory the fix was applied for ("" in journals written before entries were tagged)
    project: str = ""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JournalEntry:
        return cls(
            fix=data["fix"],
            scope=data["scope"],
            check=data["check"],
            summary=data["summary"],
            files=[FileRecord(**f) for f in data.get("files", [])],
            commands=[CommandRecord(**c) for c in data.get("commands", [])],
            id=data["id"],
            applied_at=data["applied_at"],
            project=str(data.get("project") or ""),
        )


class Journal:
    """One journal file (normally :func:`open_journal`'s, in the host state directory)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Exclusive lock: one fix (or revert) at a time, across processes and xdist workers."""
        # Host state is private: the journal holds copies of the files fixes replaced.
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def entries(self, project: Path | None = None) -> list[JournalEntry]:
        """Every entry, oldest first; only *project*'s when given."""
        if project is not None:
            return [e for e in self.entries() if e.project == str(project)]
        if not self.path.exists():
            return []
        try:
            data = json.loads(self.path.read_text())
            return [JournalEntry.from_dict(e) for e in data["entries"]]
        except OSError as e:
            raise JournalError(self.path, f"cannot read it: {e.strerror}") from e
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise JournalError(self.path, f"unreadable ({e}); it was not written by this podshift") from e

    def _save(self, entries: Sequence[JournalEntry]) -> None:
        body = json.dumps({"version": 1, "entries": [asdict(e) for e in entries]}, indent=2).encode()
        write_file_atomically(self.path, body, 0o600)

    def append(self, entry: JournalEntry) -> None:
        """Record *entry* (call with the lock held)."""
        self._save([*self.entries(), entry])

    @staticmethod
    def changed_files(entries: Sequence[JournalEntry]) -> list[FileRecord]:
        """Files edited since the newest fix that wrote them (older records of a path are checked by it)."""
        seen: set[str] = set()
        changed = []
        for entry in reversed(entries):
            for record in entry.files:
                if record.path in seen:
                    continue
                seen.add(record.path)
                if record.changed_since_fix():
                    changed.append(record)
        return changed

    def revert(self, log: Any = print, project: Path | None = None, *, force: bool = False) -> list[JournalEntry]:
        """Undo every entry (only *project*'s when given), newest first.

        Each entry is removed from the journal as soon as it is undone; other
        projects' entries stay as they are.  A file changed since its fix wrote
        it is not overwritten: the revert is refused, naming it, before anything
        is undone — unless *force*, which keeps the current version aside
        (``NAME.podshift-yours-…``) first.
        """
        undone: list[JournalEntry] = []
        with self.locked():
            entries = self.entries()
            ours = [e for e in entries if project is None or e.project == str(project)]
            changed = self.changed_files(ours)
            if changed and not force:
                names = ", ".join(r.path for r in changed)
                raise JournalError(
                    self.path,
                    f"changed since podshift's fix wrote it: {names} — reverting would throw those edits away, so "
                    "nothing was reverted; keep your version and revert anyway with `podshift fixes revert --force` "
                    "(your file is kept as NAME.podshift-yours-TIMESTAMP)",
                )
            for record in changed:
                log(f"{record.path} changed since the fix: your version is kept as {record.set_aside()}")
            while True:
                mine = [i for i, e in enumerate(entries) if project is None or e.project == str(project)]
                if not mine:
                    break
                entry = entries[mine[-1]]
                log(f"reverting {entry.fix} ({entry.summary})")
                # Files first (their exact bytes), then the commands' undos, newest first:
                # an undo may need the restored files (e.g. `podman system migrate`).
                for record in reversed(entry.files):
                    try:
                        record.restore()
                    except OSError as e:
                        raise JournalError(
                            self.path, f"cannot put back {record.path} for {entry.fix}: {e.strerror}"
                        ) from e
                for cmd in reversed(entry.commands):
                    if cmd.undo:
                        run_as = RunAs(cmd.run_as) if cmd.run_as else None
                        result = run(cmd.undo, run_as=run_as, timeout=120)
                        if not result.succeeded:
                            raise JournalError(
                                self.path,
                                f"undo of {entry.fix} failed: `{' '.join(cmd.undo)}`: {result.stderr.strip()}",
                            )
                entries.pop(mine[-1])
                self._save(entries)
                undone.append(entry)
        return undone
