"""Reading volume archives as streams: per-entry records, the archive's own digest, and safety rules.

One pass does everything: the engine's export stream is tee'd into the
archive file and a sha256 of the archive, while ``tarfile`` in stream mode
(``r|``) parses the same bytes and hashes every member's content.  Memory
stays flat whatever the volume's size.
"""

from __future__ import annotations

import hashlib
import io
import posixpath
import tarfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from podshift.backup.members import MemberGuard, UnsafeArchive
from podshift.errors import PodshiftError

__all__ = [
    "CHUNK",
    "Entry",
    "ScanResult",
    "UnsafeArchive",
    "comparable",
    "copy_stream",
    "file_chunks",
    "hardlink_groups",
    "normalize",
    "scan",
    "scan_file",
]

CHUNK = 1 << 20
_TYPES = {
    tarfile.REGTYPE: "file",
    tarfile.AREGTYPE: "file",
    tarfile.DIRTYPE: "dir",
    tarfile.SYMTYPE: "symlink",
    tarfile.LNKTYPE: "hardlink",
    tarfile.CHRTYPE: "char",
    tarfile.BLKTYPE: "block",
    tarfile.FIFOTYPE: "fifo",
    tarfile.CONTTYPE: "file",
}


@dataclass
class Entry:
    """One file of a volume, as seen inside the container (owner ids are the container's)."""

    path: str
    type: str
    size: int
    mode: int
    uid: int
    gid: int
    mtime: int
    sha256: str = ""
    link: str = ""  # symlink target, or the path a hardlink points to
    xattrs: dict[str, str] = field(default_factory=dict)


def normalize(name: str) -> str:
    """Archive member name relative to the volume root ('' for the root itself), spelled one way only."""
    name = posixpath.normpath(name) if name else "."
    return "" if name == "." else name


class _Tee(io.RawIOBase):
    """read() from a chunk iterator, copying every byte to *sink* and a digest."""

    def __init__(self, chunks: Iterable[bytes], sink: IO[bytes] | None, on_bytes: Callable[[int], None]) -> None:
        self._it: Iterator[bytes] = iter(chunks)
        self._buf = memoryview(b"")
        self.sink = sink
        self.digest = hashlib.sha256()
        self.total = 0
        self.on_bytes = on_bytes

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while not self._buf:
            try:
                chunk = next(self._it)
            except StopIteration:
                return 0
            self._buf = memoryview(chunk)
            self.digest.update(chunk)
            self.total += len(chunk)
            if self.sink is not None:
                self.sink.write(chunk)
            self.on_bytes(len(chunk))
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n

    def drain(self) -> None:
        while self.read(CHUNK):
            pass


@dataclass
class ScanResult:
    entries: list[Entry]
    archive_sha256: str
    archive_size: int


def scan(
    chunks: Iterable[bytes],
    *,
    sink: IO[bytes] | None = None,
    archive: str = "archive",
    safe: bool = True,
    on_bytes: Callable[[int], None] = lambda n: None,
) -> ScanResult:
    """Parse a tar stream into entries (hashing contents), optionally copying it to *sink*.

    With *safe*, a member that :class:`~podshift.backup.members.MemberGuard` refuses raises
    :class:`UnsafeArchive` before anything after it is read.
    """
    tee = _Tee(chunks, sink, on_bytes)
    try:
        # bufsize: stream mode otherwise reads 10 KiB records, which costs 10x here.
        with tarfile.open(fileobj=io.BufferedReader(tee, CHUNK), mode="r|", bufsize=CHUNK) as tar:
            entries = _entries(tar, archive, safe)
        tee.drain()  # the end-of-archive padding belongs to the archive too
    except tarfile.TarError as e:
        raise PodshiftError(f"{archive}: not a readable tar archive: {e}") from e
    return ScanResult(entries, tee.digest.hexdigest(), tee.total)


def scan_file(path: str, *, archive: str = "archive", safe: bool = True) -> list[Entry]:
    """Entries of a tar file on disk (random access: members are read straight from the file)."""
    try:
        with tarfile.open(path, mode="r:") as tar:
            return _entries(tar, archive, safe)
    except tarfile.TarError as e:
        raise PodshiftError(f"{archive}: not a readable tar archive: {e}") from e


def _entries(tar: tarfile.TarFile, archive: str, safe: bool) -> list[Entry]:
    entries: list[Entry] = []
    guard = MemberGuard(archive) if safe else None
    for member in tar:
        name = guard.check(member) if guard is not None else normalize(member.name)
        if not name:
            continue  # the volume root itself
        digest = ""
        if member.isfile():
            h = hashlib.sha256()
            f = tar.extractfile(member)
            while f is not None and (block := f.read(CHUNK)):
                h.update(block)
            digest = h.hexdigest()
        xattrs = {
            k.removeprefix("SCHILY.xattr."): v for k, v in member.pax_headers.items() if k.startswith("SCHILY.xattr.")
        }
        entries.append(
            Entry(
                path=name,
                type=_TYPES.get(member.type, "other"),
                size=member.size if member.isfile() else 0,
                mode=member.mode & 0o7777,
                uid=member.uid,
                gid=member.gid,
                mtime=int(member.mtime),
                sha256=digest,
                link=normalize(member.linkname) if member.islnk() else member.linkname,
                xattrs=xattrs,
            )
        )
    return entries


def copy_stream(chunks: Iterable[bytes], sink: IO[bytes], on_bytes: Callable[[int], None]) -> tuple[str, int]:
    """Write a byte stream to *sink*; return its sha256 and size."""
    digest, total = hashlib.sha256(), 0
    for chunk in chunks:
        sink.write(chunk)
        digest.update(chunk)
        total += len(chunk)
        on_bytes(len(chunk))
    return digest.hexdigest(), total


def hardlink_groups(entries: Iterable[Entry]) -> set[frozenset[str]]:
    """Sets of paths that are one inode (tar order decides which one is the 'link')."""
    groups: dict[str, set[str]] = {}
    for e in entries:
        if e.type == "hardlink":
            group = groups.get(e.link) or {e.link}
            group.add(e.path)
            for p in group:
                groups[p] = group
    return {frozenset(g) for g in groups.values()}


def comparable(entries: Iterable[Entry]) -> dict[str, tuple[Any, ...]]:
    """What must match between a manifest and a restored volume, path by path.

    Hardlinks compare as the file they share (content and owner), plus
    :func:`hardlink_groups`; directory mtimes are left out (extraction
    changes them).
    """
    by_path = {e.path: e for e in entries}
    out: dict[str, tuple[Any, ...]] = {}
    for e in by_path.values():
        base = by_path.get(e.link, e) if e.type == "hardlink" else e
        kind = "file" if base.type in ("file", "hardlink") else base.type
        link = base.link if kind == "symlink" else ""
        mtime = base.mtime if kind == "file" else None
        out[e.path] = (kind, base.size, base.mode, base.uid, base.gid, base.sha256, link, mtime)
    return out


def file_chunks(path: str) -> Iterator[bytes]:
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            yield chunk
