"""Bind-mounted data directories for a rootless target: owners moved into the user's namespace.

Under Docker (no user namespace) a file owned by host uid 999 is uid 999 in
the container.  Under a rootless user's Podman, container uid N is host uid
``map(N)`` (0 -> the user, N -> a sub-id), and a host uid outside the map
shows as ``nobody``, which the container cannot write.  So each entry of a
bind-mounted data directory whose owner is outside the map gets ``map(owner)``:
inside the container it has the owner it had under Docker — what ``podman
unshare chown`` would do if the user were allowed to change files it does not
own.  The original owners are returned for the journal *before* any change
(rollback puts them back).  Paths are walked with ``os.fwalk`` (descriptors,
never following a symlink) and changed with ``lchown`` semantics.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from podshift.commands import RunAs, run
from podshift.errors import PodshiftError


class IdMapError(PodshiftError):
    pass


@dataclass(frozen=True)
class IdMap:
    """One of a user namespace's maps: (inside, outside, count) ranges."""

    ranges: tuple[tuple[int, int, int], ...]

    @classmethod
    def parse(cls, text: str) -> IdMap:
        ranges = []
        for line in text.splitlines():
            if line.strip():
                inside, outside, count = (int(x) for x in line.split())
                ranges.append((inside, outside, count))
        return cls(tuple(ranges))

    def to_host(self, inside: int) -> int | None:
        for start, outside, count in self.ranges:
            if start <= inside < start + count:
                return outside + inside - start
        return None

    def covers_host(self, host: int) -> bool:
        return any(outside <= host < outside + count for _, outside, count in self.ranges)


def id_maps(user: str) -> tuple[IdMap, IdMap]:
    """The rootless *user*'s (uid map, gid map), as ``podman unshare`` sets them up."""
    run_as = RunAs(user)
    maps = []
    for name in ("uid_map", "gid_map"):
        result = run(run_as.wrap(["podman", "unshare", "cat", f"/proc/self/{name}"]), timeout=60)
        if not result.succeeded:
            raise IdMapError(f"`podman unshare` as {user} failed: {result.stderr.strip()[-300:]}")
        maps.append(IdMap.parse(result.stdout))
    return maps[0], maps[1]


@dataclass(frozen=True)
class Reown:
    path: str  # absolute host path
    uid: int
    gid: int
    new_uid: int
    new_gid: int


def _entries(root: Path) -> Iterator[tuple[str, int, str]]:
    """(absolute path, parent dir fd, name) for *root* and everything below it; never follows a symlink."""
    parent = os.open(root.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        yield str(root), parent, root.name
    finally:
        os.close(parent)
    for dirpath, dirnames, filenames, dir_fd in os.fwalk(root, follow_symlinks=False):
        for name in sorted(dirnames + filenames):
            yield os.path.join(dirpath, name), dir_fd, name


def plan_reown(roots: list[Path], uids: IdMap, gids: IdMap) -> list[Reown]:
    """The entries under *roots* whose owner the user's namespace cannot see, with their mapped owner."""
    changes = []
    for root in roots:
        for path, dir_fd, name in _entries(root):
            st = os.lstat(name, dir_fd=dir_fd)
            need_uid = not uids.covers_host(st.st_uid)
            need_gid = not gids.covers_host(st.st_gid)
            if not (need_uid or need_gid):
                continue
            new_uid = uids.to_host(st.st_uid) if need_uid else st.st_uid
            new_gid = gids.to_host(st.st_gid) if need_gid else st.st_gid
            if new_uid is None or new_gid is None:
                raise IdMapError(
                    f"{path} is owned by {st.st_uid}:{st.st_gid}, which the user's namespace cannot map: "
                    "give the user a larger sub-id range (/etc/subuid, /etc/subgid)"
                )
            changes.append(Reown(path, st.st_uid, st.st_gid, new_uid, new_gid))
    return changes


def apply_reown(roots: list[Path], changes: list[Reown]) -> int:
    """Change the planned owners (entries that changed since the plan keep theirs); return how many."""
    wanted = {c.path: c for c in changes}
    done = 0
    for root in roots:
        for path, dir_fd, name in _entries(root):
            change = wanted.get(path)
            if change is None:
                continue
            st = os.lstat(name, dir_fd=dir_fd)
            if (st.st_uid, st.st_gid) != (change.uid, change.gid):
                continue
            os.chown(name, change.new_uid, change.new_gid, dir_fd=dir_fd, follow_symlinks=False)
            if stat.S_ISREG(st.st_mode) and st.st_mode & 0o6000:
                # chown clears setuid/setgid on a regular file: put the mode back, through the file itself.
                fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
                try:
                    os.fchmod(fd, stat.S_IMODE(st.st_mode))
                finally:
                    os.close(fd)
            done += 1
    return done
