"""Restoring from a backup: configuration files and volumes, each verified before and after.

This is the API rollback uses (often as root), so it assumes the backup, the
project directory and the volumes may all have been prepared by someone
hostile:

* :func:`verified_manifest` checks both manifests against their checksums and
  the manifest's signature (:mod:`podshift.backup.signing`); a signature that
  does not match is tampering and always refused, one that cannot be checked
  (another host, another key) needs ``trust_backup=True``.
* :func:`restore_config` writes only inside the project directory or to the
  bind sources the *current* Compose model names, never creates setuid or
  setgid files there, refuses ``..`` and absolute paths in the manifest, and
  writes every file through a private temporary (:func:`podshift.atomic.write_file_at`).
* :func:`restore_volume` reads the archive through a
  :class:`~podshift.backup.members.MemberGuard` before anything is created,
  extracts it either through the engine or — where this process may write the
  volume's directory as containers see it — with :func:`extract_archive`,
  which resolves every name beneath the target one component at a time and
  never follows a symlink, then compares the volume with the manifest.
"""

from __future__ import annotations

import decimal
import errno
import hashlib
import logging
import os
import tarfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from podshift.atomic import open_beneath, replace_with_symlink, write_file_at
from podshift.backup.configs import discover
from podshift.backup.manifest import Archive, ConfigFile, Manifest
from podshift.backup.members import MemberGuard, UnsafeArchive, clean_name
from podshift.backup.store import BackupError, BackupStore, compare_entries
from podshift.backup.tarscan import CHUNK, scan
from podshift.compose.model import ComposeProject
from podshift.paths import BACKUP_DIR_NAME, PROJECT_STATE_NAME
from podshift.runtimes.base import Runtime

log = logging.getLogger("podshift.restore")

#: (what, bytes so far, files so far), as for backups.
Progress = Callable[[str, int, int], None]

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
#: Blocks of zeros this big are skipped (a hole) rather than written, so sparse files stay sparse.
_HOLE = 1 << 16
_ZEROS = bytes(_HOLE)
_SUID_SGID = 0o6000


# -- the backup itself ----------------------------------------------------------------------------------------
def verified_manifest(backup: BackupStore, *, trust_backup: bool = False) -> Manifest:
    """The backup's manifest, once its checksums and signature say it may be restored from.

    Raises :class:`~podshift.backup.store.BackupError` naming what is wrong:
    a changed manifest, a signature that does not match (tampering: refused
    even with *trust_backup*), or one that cannot be checked (refused unless
    *trust_backup*).
    """
    return backup.manifest(trust_backup=trust_backup)


def _read_backup_file(backup: BackupStore, rel: str) -> tuple[int, str]:
    """Open a file of the backup (never through a symlink); returns (fd, sha256 of its content)."""
    name = clean_name(rel)
    if not name:
        raise BackupError(backup.path, f"the manifest names {rel!r}: refusing a path outside the backup")
    parts = name.split("/")
    backup_fd = _open_backup_dir(backup)
    try:
        parent = open_beneath(backup_fd, parts[:-1])
    except OSError as e:
        raise BackupError(backup.path / name, f"cannot open it: {e}") from e
    finally:
        os.close(backup_fd)
    try:
        fd = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
    except OSError as e:
        raise BackupError(backup.path / name, f"missing or not a file: {e.strerror}") from e
    finally:
        os.close(parent)
    h = hashlib.sha256()
    while block := os.read(fd, CHUNK):
        h.update(block)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd, h.hexdigest()


def _open_backup_dir(backup: BackupStore) -> int:
    try:
        return os.open(backup.path, _DIR_FLAGS)
    except OSError as e:
        raise BackupError(backup.path, f"not a backup directory podshift may read: {e.strerror}") from e


# -- configuration --------------------------------------------------------------------------------------------
def _config_destination(c: ConfigFile, project: ComposeProject, target_dir: Path | None) -> tuple[Path, Path, str]:
    """(anchor directory, path below it, where it lands) for a configuration file; refuses what is not allowed."""
    rel = clean_name(c.path)
    if not rel:
        raise BackupError(c.path, "the manifest records an absolute or '..' path: refusing to restore it")
    if target_dir is not None:
        return target_dir, Path(rel), str(target_dir / rel)
    source = c.source
    if not source.startswith("/") or ".." in source.split("/") or clean_name(source[1:]) != source[1:].rstrip("/"):
        raise BackupError(source, "the manifest records a path that is not absolute and normal: refusing it")
    dest = Path(source)
    project_dir = project.project_dir
    if dest.is_relative_to(project_dir):
        inside = dest.relative_to(project_dir)
        if inside.parts and inside.parts[0] in (BACKUP_DIR_NAME, PROJECT_STATE_NAME):
            raise BackupError(dest, "the manifest points into podshift's own state: refusing to restore it")
        return project_dir, inside, source
    allowed = set(project.bind_sources) | {s.path for s in discover(project)}
    if dest in allowed:
        return dest.parent, Path(dest.name), source
    raise BackupError(
        dest,
        "outside the project directory and not a bind source or file of the current compose model: "
        "refusing to restore it (was the manifest edited?)",
    )


def restore_config(
    backup: BackupStore,
    project: ComposeProject,
    *,
    target_dir: Path | None = None,
    trust_backup: bool = False,
) -> list[Path]:
    """Put every configuration file back (byte-identical, mode and mtime); returns where each went.

    Each file is checked against the manifest before anything is written.
    Without *target_dir* a file goes back where it was read from, which
    must be inside *project*'s directory or a path the current Compose model
    names; with it, to ``target_dir/<path in the backup>``.  Setuid and
    setgid bits are dropped (they belong in volumes only).
    """
    manifest = verified_manifest(backup, trust_backup=trust_backup)
    plans = [(c, *_config_destination(c, project, target_dir)) for c in manifest.config]
    contents: list[bytes | None] = []
    for c, *_ in plans:  # every file verified before the first is written
        if c.link:
            contents.append(None)
            continue
        fd, digest = _read_backup_file(backup, f"config/{c.path}")
        try:
            if digest != c.sha256:
                raise BackupError(
                    backup.path / "config" / c.path, "does not match its manifest checksum: refusing to restore it"
                )
            contents.append(_read_all(fd))
        finally:
            os.close(fd)
    restored = []
    for (c, anchor, below, dest), data in zip(plans, contents, strict=True):
        mode = c.mode & 0o7777
        if mode & _SUID_SGID:
            log.warning("%s: setuid/setgid bits dropped (mode %04o recorded)", dest, mode)
            mode &= ~_SUID_SGID
        try:
            if target_dir is not None:
                target_dir.mkdir(parents=True, exist_ok=True)
            anchor_fd = os.open(anchor, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                parent = open_beneath(anchor_fd, below.parts[:-1], create_mode=0o755)
            finally:
                os.close(anchor_fd)
            try:
                if data is None:
                    replace_with_symlink(parent, below.name, c.link)
                else:
                    write_file_at(parent, below.name, data, mode, mtime_ns=c.exact_mtime_ns)
            finally:
                os.close(parent)
        except OSError as e:
            raise BackupError(dest, f"cannot restore it: {e.strerror} ({e.filename or anchor})") from e
        restored.append(Path(dest))
    return restored


def _read_all(fd: int) -> bytes:
    chunks = []
    while block := os.read(fd, CHUNK):
        chunks.append(block)
    return b"".join(chunks)


# -- volumes ----------------------------------------------------------------------------------------------------
def restore_volume(
    backup: BackupStore,
    volume_name: str,
    runtime: Runtime,
    target_volume: str,
    *,
    trust_backup: bool = False,
    progress: Progress | None = None,
    into_empty: bool = False,
    labels: Mapping[str, str] | None = None,
) -> None:
    """Restore the archive of *volume_name* into a new, empty volume *target_volume* of *runtime*.

    With *into_empty*, *target_volume* is an existing volume the caller emptied (a
    rollback refills the volume Compose knows by name, its old content moved aside);
    it is left in place on failure.  *labels* go on a volume this creates (e.g. the
    Compose project's, so that the Compose tool owns it).

    Order: manifest and signature checked, the archive's checksum checked,
    every member read through a :class:`~podshift.backup.members.MemberGuard`
    (an unsafe member raises :class:`~podshift.backup.members.UnsafeArchive`
    before the volume is created), the volume created and filled, then its
    content compared with the manifest.  On any failure the new volume is
    removed again.
    """
    manifest = verified_manifest(backup, trust_backup=trust_backup)
    archive = next((a for a in manifest.archives if a.name == volume_name and a.kind == "volume"), None)
    if archive is None:
        raise BackupError(backup.path, f"no archive of volume {volume_name!r} in this backup")
    fd, digest = _read_backup_file(backup, archive.archive)
    with os.fdopen(fd, "rb") as f:
        if digest != archive.sha256:
            raise BackupError(backup.path / archive.archive, "does not match its manifest checksum: refusing it")
        with tarfile.open(fileobj=f, mode="r:") as tar:  # refuses escapes before any write
            _check_members(tar, archive.archive)
        existing = runtime.volume(target_volume)
        if existing is not None and not into_empty:
            raise BackupError(
                backup.path, f"volume {target_volume} already exists on {runtime.label}: restore into a new one"
            )
        info = existing or runtime.volume_create(
            target_volume, {**(labels or {}), "io.podshift.restored-from": volume_name}
        )
        try:
            direct = runtime.direct_path(info)
            f.seek(0)
            if direct is not None:
                log.info("restoring %s into %s directly (%s)", volume_name, target_volume, direct)
                with tarfile.open(fileobj=f, mode="r:") as tar:
                    extract(tar, direct, label=archive.archive, progress=_named(progress, target_volume))
            else:
                runtime.volume_import(target_volume, _chunks(f, _named(progress, target_volume)))
            _compare(backup, archive, runtime, target_volume)
        except BaseException:
            if existing is None:
                runtime.volume_remove(target_volume, force=True)
            raise


def _check_members(tar: tarfile.TarFile, label: str) -> None:
    guard = MemberGuard(label)
    try:
        for member in tar:
            guard.check(member)
    except tarfile.TarError as e:
        raise BackupError(label, f"not a readable tar archive: {e}") from e


def _compare(backup: BackupStore, archive: Archive, runtime: Runtime, target: str) -> None:
    restored = scan(runtime.volume_export(target), archive=f"{runtime.label}:{target}", safe=False)
    difference = compare_entries(archive.entries, restored.entries)
    if difference:
        raise BackupError(
            backup.path / archive.archive, f"volume {target} does not match the manifest after restore: {difference}"
        )


def _named(progress: Progress | None, what: str) -> Callable[[int, int], None]:
    return (lambda done, files: progress(what, done, files)) if progress is not None else (lambda done, files: None)


def _chunks(f: IO[bytes], progress: Callable[[int, int], None]) -> Iterator[bytes]:
    done = 0
    while block := f.read(CHUNK):
        done += len(block)
        progress(done, 0)
        yield block


# -- the safe extractor ---------------------------------------------------------------------------------------
@dataclass
class _DirMeta:
    parts: tuple[str, ...]
    member: tarfile.TarInfo


class _Extractor:
    """Writes an archive's members beneath one directory descriptor (see :func:`extract`)."""

    def __init__(self, root_fd: int, label: str) -> None:
        self.root_fd = root_fd
        self.label = label
        self.guard = MemberGuard(label)
        self.as_root = os.geteuid() == 0
        self.dirs: list[_DirMeta] = []
        self._parent: tuple[tuple[str, ...], int] | None = None

    def close(self) -> None:
        if self._parent is not None:
            os.close(self._parent[1])
            self._parent = None

    def parent_fd(self, parts: tuple[str, ...]) -> int:
        """The directory *parts* (created 0700 if missing; its mode comes later), cached: members come in order."""
        if self._parent is not None and self._parent[0] == parts:
            return self._parent[1]
        fd = open_beneath(self.root_fd, parts, create_mode=0o700)
        self.close()
        self._parent = (parts, fd)
        return fd

    def add(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        name = self.guard.check(member)
        parts = tuple(name.split("/")) if name else ()
        if not parts:  # the root: only its metadata
            self.dirs.append(_DirMeta((), member))
            return
        parent = self.parent_fd(parts[:-1])
        base = parts[-1]
        if member.isdir():
            try:
                os.mkdir(base, 0o700, dir_fd=parent)
            except FileExistsError:
                os.close(open_beneath(parent, [base]))  # a directory made earlier, not a planted link
            self.dirs.append(_DirMeta(parts, member))
        elif member.islnk():
            target = (clean_name(member.linkname) or "").split("/")
            source_dir = open_beneath(self.root_fd, target[:-1])
            try:
                os.link(target[-1], base, src_dir_fd=source_dir, dst_dir_fd=parent, follow_symlinks=False)
            finally:
                os.close(source_dir)
        elif member.issym():
            os.symlink(member.linkname, base, dir_fd=parent)
            if self.as_root:
                os.chown(base, member.uid, member.gid, dir_fd=parent, follow_symlinks=False)
            os.utime(base, ns=_times(member), dir_fd=parent, follow_symlinks=False)
        elif member.isfifo():
            os.mkfifo(base, 0o600, dir_fd=parent)
            fd = os.open(base, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
            try:
                self._metadata(fd, member)
            finally:
                os.close(fd)
        else:
            fd = os.open(
                base, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=parent
            )
            try:
                source = tar.extractfile(member)
                if source is not None:
                    _write_sparse(fd, source, member.size)
                self._metadata(fd, member)
            finally:
                os.close(fd)

    def _metadata(self, fd: int, member: tarfile.TarInfo) -> None:
        if self.as_root:
            os.fchown(fd, member.uid, member.gid)  # before the mode: chown clears setuid bits
        os.fchmod(fd, member.mode & 0o7777)
        for key, value in member.pax_headers.items():
            if key.startswith("SCHILY.xattr."):
                try:
                    os.setxattr(fd, key.removeprefix("SCHILY.xattr."), value.encode("utf-8", "surrogateescape"))
                except OSError as e:
                    if e.errno not in (errno.ENOTSUP, errno.EPERM):
                        raise
                    log.warning("%s: extended attribute %s not restored: %s", member.name, key, e.strerror)
        os.utime(fd, ns=_times(member))

    def finish(self) -> None:
        """Directories' owners, modes and times last (deepest first): a 0500 directory must still be filled."""
        self.close()
        for meta in sorted(self.dirs, key=lambda d: len(d.parts), reverse=True):
            fd = open_beneath(self.root_fd, list(meta.parts))
            try:
                self._metadata(fd, meta.member)
            finally:
                os.close(fd)


def _times(member: tarfile.TarInfo) -> tuple[int, int]:
    """The member's mtime in nanoseconds, exactly: from the PAX header's decimal text when there is one
    (a float has ~240 ns of resolution at today's epoch seconds, so ``mtime * 1e9`` is off by that)."""
    text = member.pax_headers.get("mtime") if member.pax_headers else None
    try:
        ns = int(decimal.Decimal(text) * 1_000_000_000) if text else int(member.mtime * 1_000_000_000)
    except decimal.InvalidOperation:
        ns = int(member.mtime * 1_000_000_000)
    return ns, ns


def _write_sparse(fd: int, source: IO[bytes], size: int) -> None:
    """Copy *source* into *fd*, seeking over blocks of zeros (holes) instead of writing them."""
    while block := source.read(_HOLE):
        if block == _ZEROS[: len(block)]:
            os.lseek(fd, len(block), os.SEEK_CUR)
            continue
        view = memoryview(block)
        while view:
            view = view[os.write(fd, view) :]
    os.ftruncate(fd, size)  # a trailing hole still counts in the size


def extract(
    tar: tarfile.TarFile, target: Path | int, *, label: str, progress: Callable[[int, int], None] | None = None
) -> None:
    """Extract *tar* beneath *target* (a directory path, or an open directory fd) and nowhere else.

    Every member passes a :class:`~podshift.backup.members.MemberGuard`;
    then every name is resolved from *target*'s descriptor one component at a
    time with ``O_NOFOLLOW``, files are created with ``O_EXCL``, and owner,
    mode and times are set through descriptors (or without following
    symlinks).  So even a rule the guard lacked cannot write outside
    *target*: at worst the extraction fails.  Owners are restored when this
    process is root.  Sparse files stay sparse.
    """
    root_fd = os.open(target, _DIR_FLAGS) if not isinstance(target, int) else os.dup(target)
    extractor = _Extractor(root_fd, label)
    count, size = 0, 0
    try:
        for member in tar:
            extractor.add(tar, member)
            count += 1
            size += member.size if member.isreg() else 0
            if progress is not None:
                progress(size, count)
        extractor.finish()
    except tarfile.TarError as e:
        raise BackupError(label, f"not a readable tar archive: {e}") from e
    except UnsafeArchive:
        raise
    except OSError as e:
        raise BackupError(label, f"cannot extract it: {e.strerror} ({e.filename or ''})") from e
    finally:
        extractor.close()
        os.close(root_fd)


__all__ = ["extract", "restore_config", "restore_volume", "verified_manifest"]
