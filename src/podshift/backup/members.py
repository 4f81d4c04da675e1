"""What a member of a volume archive may be: names normalised, each path's type tracked as the archive is read.

The same rules guard every restore, whatever extracts the archive afterwards
(podshift's own fd-relative extractor, ``docker put_archive`` or ``podman
volume import``): an archive is read through a :class:`MemberGuard` before any
byte of it is written anywhere, and again while it is extracted.

Names are compared only after normalisation (``a//b``, ``./a/.`` and ``a/``
are all ``a/b`` or ``a``), because a check on raw strings lets a differently
spelled name through and a later member is then written through a symlink.
"""

from __future__ import annotations

import math
import posixpath
import tarfile

from podshift.errors import PodshiftError

#: What each kind of member is recorded as (a hardlink to a regular file is a regular file).
FILE, DIR, SYMLINK, FIFO = "file", "dir", "symlink", "fifo"


class UnsafeArchive(PodshiftError):
    """A member that could write outside the restore target, or that podshift does not restore."""

    def __init__(self, archive: str, member: str, why: str) -> None:
        self.archive = archive
        self.member = member
        self.why = why
        super().__init__(f"{archive}: refusing member {member!r}: {why}")


def clean_name(raw: str) -> str | None:
    """The normalised relative path of a member name: '' for the archive root, None when it is unusable.

    Unusable: empty, absolute, or with a ``..`` component anywhere (even one
    that normalisation would fold away: a recorded ``..`` is never trusted).
    """
    if not raw or "\x00" in raw or raw.startswith("/"):
        return None
    if ".." in raw.split("/"):
        return None
    name = posixpath.normpath(raw)
    if name.startswith("/") or ".." in name.split("/"):  # pragma: no cover - excluded above; kept as the invariant
        return None
    return "" if name == "." else name


class MemberGuard:
    """Reads an archive's members in order and refuses any that is unsafe to extract beneath a target.

    Refused: unusable names (:func:`clean_name`), a member whose parent
    chain crosses a symlink or a non-directory from the archive, a name that
    appears twice (except a directory repeated), anything but a directory at
    the root, hardlinks whose target is not a regular file extracted
    earlier, device nodes and other special types.  Symlinks themselves may
    point anywhere: they are data (inside the container an absolute link
    resolves there), and they are never followed while extracting.
    """

    def __init__(self, archive: str) -> None:
        self.archive = archive
        #: normalised path -> FILE, DIR, SYMLINK or FIFO ('' is the root)
        self.kinds: dict[str, str] = {"": DIR}

    def _refuse(self, member: tarfile.TarInfo, why: str) -> UnsafeArchive:
        return UnsafeArchive(self.archive, member.name, why)

    def check(self, member: tarfile.TarInfo) -> str:
        """The member's normalised path ('' for the root); raises :class:`UnsafeArchive` when unsafe."""
        name = clean_name(member.name)
        if name is None:
            raise self._refuse(member, "absolute, empty or '..' name")
        kind = self._kind(member)
        if not settable_time(member.mtime):
            raise self._refuse(member, f"modification time {member.mtime!r} cannot be set on a file")
        if name == "":
            if kind != DIR:
                raise self._refuse(member, "only a directory may stand for the archive root")
            return name
        parts = name.split("/")
        for i in range(1, len(parts)):
            parent = "/".join(parts[:i])
            parent_kind = self.kinds.get(parent)
            if parent_kind == SYMLINK:
                raise self._refuse(member, f"written through the symlink {parent!r} from the archive")
            if parent_kind not in (None, DIR):
                raise self._refuse(member, f"below {parent!r}, which is not a directory")
            self.kinds[parent] = DIR  # made implicitly: a later member may not turn it into something else
        previous = self.kinds.get(name)
        if previous is not None and not (previous == DIR and kind == DIR):
            raise self._refuse(member, f"{name!r} appears twice in the archive")
        if member.islnk():
            target = clean_name(member.linkname)
            if target is None or not target or self.kinds.get(target) != FILE:
                raise self._refuse(member, f"hardlink to {member.linkname!r}, not a file extracted earlier")
        self.kinds[name] = kind
        return name

    def _kind(self, member: tarfile.TarInfo) -> str:
        if member.isreg() or member.islnk():
            return FILE
        if member.isdir():
            return DIR
        if member.issym():
            return SYMLINK
        if member.isfifo():
            return FIFO
        if member.ischr() or member.isblk():
            raise self._refuse(member, "device node (podshift refuses them at backup too)")
        raise self._refuse(member, f"unsupported member type {member.type!r}")


#: The largest time (seconds either side of the epoch) a file can get from utimensat: 64-bit nanoseconds.
_MAX_SECONDS = (2**63 - 1) // 1_000_000_000


def settable_time(mtime: float) -> bool:
    """A PAX header may carry any decimal (``nan``, ``inf``, ``1e400``): only a finite 64-bit time is restored."""
    try:
        return math.isfinite(mtime) and abs(mtime) <= _MAX_SECONDS
    except OverflowError:  # an int no float holds (a manifest's JSON may carry one)
        return False


__all__ = ["DIR", "FIFO", "FILE", "SYMLINK", "MemberGuard", "UnsafeArchive", "clean_name", "settable_time"]
