"""Bind-mounted data directories: owners put back to what Docker's containers had.

A migration to rootless Podman may hand a bind-mounted directory to the
rootless user (or its sub-ids).  On the way back every path the backup
recorded gets its recorded owner again: from the migration's journal where
it recorded the original owners (``<project>/.podshift/migrate.json``, any
step's ``bind_owners``: ``{path: [uid, gid]}``), else from the backup's
archive of the directory.  Paths are walked one component at a time from the
directory's own descriptor, never following a symlink, and changed with
``lchown`` semantics: a hostile entry cannot redirect a chown.
"""

from __future__ import annotations

import logging
import os
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from podshift.backup.store import BackupStore
from podshift.steps import StepJournal

log = logging.getLogger("podshift.rollback")


@dataclass(frozen=True)
class Owner:
    path: str  # absolute host path
    uid: int
    gid: int


def owners_from_migrate_journal(project_dir: Path) -> list[Owner]:
    """Original owners the migration recorded (any step's ``bind_owners``), or [] without a journal."""
    journal = StepJournal.open(project_dir, "migrate")
    found: dict[str, Owner] = {}
    for step in journal.steps():
        recorded = journal.data(step).get("bind_owners")
        if isinstance(recorded, Mapping):
            for path, ids in recorded.items():
                if isinstance(ids, list | tuple) and len(ids) == 2:
                    found[str(path)] = Owner(str(path), int(ids[0]), int(ids[1]))
    return list(found.values())


def owners_from_backup(store: BackupStore) -> list[Owner]:
    """Every path of every bind-mounted data directory in the backup, with its owner then."""
    owners: list[Owner] = []
    for archive in store.manifest().archives:
        if archive.kind != "bind":
            continue
        root = Path(archive.name)
        # The directory itself is the archive's "." member (entries leave the root out).
        with tarfile.open(store.path / archive.archive, mode="r:") as tar:
            first = tar.next()
            if first is not None and first.name in (".", "./"):
                owners.append(Owner(str(root), first.uid, first.gid))
        owners += [Owner(str(root / e.path), e.uid, e.gid) for e in archive.entries]
    return owners


def _open_parent(path: Path) -> tuple[int, str]:
    """A descriptor of *path*'s parent, reached component by component without following symlinks."""
    fd = os.open("/", os.O_RDONLY | os.O_DIRECTORY)
    try:
        for part in path.parent.parts[1:]:
            nxt = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = nxt
    except BaseException:
        os.close(fd)
        raise
    return fd, path.name


def put_back(owners: list[Owner]) -> list[str]:
    """Give every existing path its recorded owner again; returns the paths changed."""
    changed = []
    for owner in owners:
        try:
            fd, name = _open_parent(Path(owner.path))
        except OSError:
            continue  # the path (or a parent) is gone or is a symlink now: nothing to put back
        try:
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            if (st.st_uid, st.st_gid) != (owner.uid, owner.gid):
                os.chown(name, owner.uid, owner.gid, dir_fd=fd, follow_symlinks=False)
                changed.append(owner.path)
        except FileNotFoundError:
            pass
        finally:
            os.close(fd)
    if changed:
        log.info("bind-mount owners put back on %d path(s), e.g. %s", len(changed), changed[0])
    return changed


def differing(owners: list[Owner]) -> list[Owner]:
    """The recorded owners that differ from the paths' owners now (for a plan)."""
    result = []
    for owner in owners:
        try:
            st = os.lstat(owner.path)
        except OSError:
            continue
        if (st.st_uid, st.st_gid) != (owner.uid, owner.gid):
            result.append(owner)
    return result
