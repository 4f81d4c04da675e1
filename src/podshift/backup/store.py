"""The backup directory ``<project>/.docker-backup/``: create atomically, verify, restore.

Layout: ``backup-manifest.{json,txt,sha256}``, ``config/`` (the configuration
files, at their project-relative paths), ``volumes/<volume>.tar`` and
``binds/<n>.tar``.  The directory is 0700 and every file 0600 from the first
byte.  A backup is built in a temporary sibling, fsynced, verified and only
then renamed into place; with ``--force`` the previous backup is removed
only after the new one is in place.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import logging
import os
import shutil
import tarfile
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, ClassVar

from podshift.atomic import fsync_path
from podshift.backup.configs import backup_name, data_dirs, discover
from podshift.backup.direct import archive_directory
from podshift.backup.manifest import JSON_NAME, SUMS_NAME, TXT_NAME, Archive, ConfigFile, Manifest, sums
from podshift.backup.tarscan import (
    CHUNK,
    Entry,
    comparable,
    copy_stream,
    file_chunks,
    hardlink_groups,
    scan,
    scan_file,
)
from podshift.compose.model import ComposeProject
from podshift.errors import PodshiftError
from podshift.runtimes.base import Runtime

BACKUP_DIR = ".docker-backup"
#: The rollback's snapshot of the Podman side lives inside the backup directory, under this name
#: (``podman-snapshot/``, and its temporaries while one is taken); it is not part of the backup.
SNAPSHOT_DIR = "podman-snapshot"
log = logging.getLogger("podshift.backup")


class BackupError(PodshiftError):
    def __init__(self, path: Path | str, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"backup {path}: {problem}")


Progress = Callable[[str, int, int], None]  # (what, bytes so far, files so far)


def _no_progress(what: str, done: int, files: int) -> None:
    return None


@contextlib.contextmanager
def _private_file(path: Path, *, sync: bool = True) -> Iterator[IO[bytes]]:
    """A new file, 0600 from creation, fsynced on close (unless the caller leaves that to a :class:`_Syncer`)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        yield f
        f.flush()
        if sync:
            os.fsync(f.fileno())


class _Syncer:
    """fsync finished archives on a background thread while the backup goes on.

    Writing an archive to disk takes about as long as reading the volume; done in
    the background it overlaps with the next volume and with the manifests.
    :meth:`wait` returns once every file is durable (or raises the first error).
    """

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="podshift-fsync")
        self._pending: list[Future[None]] = []

    def __enter__(self) -> _Syncer:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True)

    def submit(self, path: Path) -> None:
        self._pending.append(self._pool.submit(fsync_path, path))

    def wait(self) -> None:
        for future in self._pending:
            future.result()


def _private_dirs(root: Path, path: Path) -> None:
    """Create *path* under *root* one component at a time, each 0700 whatever the umask."""
    current = root
    for part in path.relative_to(root).parts:
        current = current / part
        if not current.is_dir():
            os.mkdir(current, 0o700)
            current.chmod(0o700)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    for chunk in file_chunks(str(path)):
        h.update(chunk)
    return h.hexdigest()


@dataclass
class PlannedItem:
    kind: str  # config, volume, bind
    name: str
    size: int
    sensitive: bool = False


@dataclass
class BackupStore:
    """The backup of one project."""

    project_dir: Path
    _created_tmp: list[Path] = field(default_factory=list)
    #: the directory's name; it is built in temporary siblings of it (``<name>.tmp-<pid>``)
    dir_name: ClassVar[str] = BACKUP_DIR

    @property
    def base(self) -> Path:
        """The directory the store's directory (and its temporaries) live in."""
        return self.project_dir

    @property
    def path(self) -> Path:
        return self.base / self.dir_name

    def exists(self) -> bool:
        return (self.path / JSON_NAME).is_file()

    # -- what would be backed up -------------------------------------------------------------------
    def plan(self, project: ComposeProject, runtime: Runtime | None, include_data: bool) -> list[PlannedItem]:
        items = [PlannedItem("config", str(c.path), c.path.stat().st_size, c.sensitive) for c in discover(project)]
        if include_data:
            if runtime is not None:
                usage = runtime.volume_sizes()
                for name in project.named_volumes:
                    if runtime.volume(name) is not None:
                        items.append(PlannedItem("volume", name, usage.get(name, 0)))
            for d in data_dirs(project):
                size = sum(f.stat().st_size for f in d.rglob("*") if f.is_file() and not f.is_symlink())
                items.append(PlannedItem("bind", str(d), size))
        return items

    # -- creating ---------------------------------------------------------------------------------------
    def recover_interrupted(self) -> None:
        """Leave the previous good state usable after a crash: drop temporaries, put back an orphaned old backup."""
        for tmp in self.base.glob(f"{self.dir_name}.tmp-*"):
            pid = tmp.name.rsplit("-", 1)[-1]
            if not pid.isdigit() or not Path(f"/proc/{pid}").exists():
                shutil.rmtree(tmp, ignore_errors=True)
        olds = sorted(self.base.glob(f"{self.dir_name}.old-*"))
        if olds and not self.path.exists():
            os.rename(olds[-1], self.path)
        for old in self.base.glob(f"{self.dir_name}.old-*"):
            shutil.rmtree(old, ignore_errors=True)

    def create(
        self,
        project: ComposeProject,
        runtime: Runtime | None,
        *,
        include_data: bool,
        force: bool,
        progress: Progress = _no_progress,
    ) -> Manifest:
        """Build, verify and put in place a new backup (see the module docstring)."""
        self.recover_interrupted()
        if include_data and runtime is None:
            raise BackupError(self.path, "--include-data needs the engine that holds the volumes")
        if self.path.exists() and not force:
            raise BackupError(
                self.path,
                "a backup already exists: verify it with `podshift backup --verify`, "
                "or replace it with --force (the old one stays until the new one is verified)",
            )
        tmp = self.base / f"{self.dir_name}.tmp-{os.getpid()}"
        try:
            os.mkdir(tmp, 0o700)
            tmp.chmod(0o700)  # whatever the umask
            # A configuration-only backup needs no engine: it is the one to take when the engine is broken.
            engine = f"{runtime.label} {runtime.info().version}" if include_data and runtime is not None else "none"
            manifest = Manifest(project.name, str(self.project_dir), time.time(), engine, include_data)
            self._copy_config(project, tmp, manifest, progress)
            with _Syncer() as syncer:
                if include_data and runtime is not None:
                    runtime.remove_stale_helpers()
                    self._copy_volumes(project, runtime, tmp, manifest, progress, syncer)
                    self._copy_bind_data(project, tmp, manifest, syncer)
                self._write_manifests(tmp, manifest, syncer)
            # Every file was hashed as it was written: here the manifests as written and the
            # files' presence and sizes are checked (`--verify` and restore re-hash everything).
            problems = _check_manifest_files(tmp) or _check_files(tmp, manifest, deep=False, hashes=False)
            if problems:
                raise BackupError(tmp, "the new backup does not verify: " + "; ".join(problems[:5]))
            self._put_in_place(tmp)
            return manifest
        except OSError as e:
            shutil.rmtree(tmp, ignore_errors=True)
            if e.errno == errno.ENOSPC:
                raise BackupError(
                    tmp,
                    f"disk full while writing the backup ({e.filename or tmp}); "
                    "free space and run it again — the previous backup is untouched",
                ) from e
            raise BackupError(tmp, f"{e.strerror}: {e.filename}") from e
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def _copy_config(self, project: ComposeProject, tmp: Path, manifest: Manifest, progress: Progress) -> None:
        done = 0
        for source in discover(project):
            rel = backup_name(source.path, self.project_dir)
            dest = tmp / "config" / rel
            _private_dirs(tmp, dest.parent)
            st = source.path.stat()
            h = hashlib.sha256()
            with _private_file(dest) as out:
                for chunk in file_chunks(str(source.path)):
                    h.update(chunk)
                    out.write(chunk)
            os.utime(dest, ns=(st.st_atime_ns, st.st_mtime_ns))
            manifest.config.append(
                ConfigFile(
                    rel, str(source.path), st.st_size, st.st_mode & 0o7777, st.st_mtime, h.hexdigest(), source.sensitive
                )
            )
            done += st.st_size
            progress("configuration", done, len(manifest.config))

    def _copy_volumes(
        self,
        project: ComposeProject,
        runtime: Runtime,
        tmp: Path,
        manifest: Manifest,
        progress: Progress,
        syncer: _Syncer,
    ) -> None:
        (tmp / "volumes").mkdir(mode=0o700)
        for name in project.named_volumes:
            info = runtime.volume(name)
            if info is None:
                log.info("volume %s does not exist on %s: skipped", name, runtime.label)
                continue
            rel = f"volumes/{name}.tar"
            direct = runtime.direct_path(info)
            if direct is not None and shutil.which("tar"):
                with _stopped_users(runtime, project, name), _private_file(tmp / rel, sync=False) as out:
                    entries, digest, size = archive_directory(direct, out.fileno(), functools.partial(progress, name))
                syncer.submit(tmp / rel)
                manifest.archives.append(Archive(name, "volume", rel, digest, size, entries))
                log.info("volume %s (read directly): %d entries, %d bytes", name, len(entries), size)
                continue
            with _stopped_users(runtime, project, name), _private_file(tmp / rel, sync=False) as out:
                digest, size = copy_stream(runtime.volume_export(name), out, _Counter(name, progress))
            syncer.submit(tmp / rel)
            # Members are read back from the file just written (page cache, random access):
            # faster than parsing the engine's stream, and it is the archive that will be restored.
            entries = scan_file(str(tmp / rel), archive=rel, safe=False)
            manifest.archives.append(Archive(name, "volume", rel, digest, size, entries))
            log.info("volume %s: %d entries, %d bytes", name, len(entries), size)

    def _copy_bind_data(self, project: ComposeProject, tmp: Path, manifest: Manifest, syncer: _Syncer) -> None:
        for i, directory in enumerate(data_dirs(project)):
            (tmp / "binds").mkdir(mode=0o700, exist_ok=True)
            rel = f"binds/{i}.tar"
            with (
                _private_file(tmp / rel, sync=False) as out,
                tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as t,
            ):
                t.add(str(directory), arcname=".")
            syncer.submit(tmp / rel)
            path = tmp / rel
            entries = scan_file(str(path), archive=rel, safe=False)
            manifest.archives.append(Archive(str(directory), "bind", rel, _sha256(path), path.stat().st_size, entries))

    @staticmethod
    def _write_manifests(tmp: Path, manifest: Manifest, syncer: _Syncer) -> None:
        data, text = manifest.to_json(), manifest.to_text()  # while the archives are being fsynced
        for name, body in ((JSON_NAME, data), (TXT_NAME, text), (SUMS_NAME, sums(data, text))):
            with _private_file(tmp / name) as f:
                f.write(body)
        syncer.wait()
        for d in [tmp, *(p for p in tmp.rglob("*") if p.is_dir())]:
            fsync_path(d)

    def _put_in_place(self, tmp: Path) -> None:
        old = None
        if self.path.exists():
            if (self.path / SNAPSHOT_DIR).is_dir() and self.dir_name == BACKUP_DIR:
                # A rollback's snapshot of the Podman side is not part of the backup: it stays.
                os.rename(self.path / SNAPSHOT_DIR, tmp / SNAPSHOT_DIR)
            old = self.base / f"{self.dir_name}.old-{os.getpid()}"
            os.rename(self.path, old)
        os.rename(tmp, self.path)
        fsync_path(self.base)
        if old is not None:
            shutil.rmtree(old)

    # -- verifying -----------------------------------------------------------------------------------------
    def verify(self) -> list[str]:
        if not self.path.exists():
            raise BackupError(self.path, "no backup here: take one with `podshift backup`")
        return verify_dir(self.path)

    def manifest(self) -> Manifest:
        problems = _check_manifest_files(self.path)
        if problems:
            raise BackupError(self.path, "; ".join(problems))
        return Manifest.from_json((self.path / JSON_NAME).read_bytes())

    # -- restoring ------------------------------------------------------------------------------------------
    def restore_config(self, target_dir: Path | None = None) -> list[Path]:
        """Put every configuration file back (byte-identical, mode and mtime), each verified first."""
        manifest = self.manifest()
        restored = []
        for c in manifest.config:
            src = self.path / "config" / c.path
            if _sha256(src) != c.sha256:
                raise BackupError(src, "does not match its manifest checksum: refusing to restore it")
            dest = Path(c.source) if target_dir is None else target_dir / c.path
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(f".{dest.name}.podshift-restore")
            shutil.copyfile(src, tmp)
            os.chmod(tmp, c.mode)
            os.utime(tmp, (c.mtime, c.mtime))
            os.replace(tmp, dest)
            restored.append(dest)
        return restored

    def restore_volume(self, name: str, runtime: Runtime, target: str, *, into_empty: bool = False) -> None:
        """Restore archive *name* into a new, empty volume *target* of *runtime*, verified before use.

        With *into_empty*, *target* is an existing volume the caller emptied (a rollback
        refills the volume Compose knows by name); it is left in place on failure.
        """
        manifest = self.manifest()
        archive = next((a for a in manifest.archives if a.name == name), None)
        if archive is None:
            raise BackupError(self.path, f"no archive of {name!r} in this backup")
        path = self.path / archive.archive
        if not path.is_file() or _sha256(path) != archive.sha256:
            raise BackupError(path, "missing or does not match its manifest checksum: refusing to restore it")
        scan_file(str(path), archive=archive.archive, safe=True)  # refuses escapes before any write
        if not into_empty:
            if runtime.volume(target) is not None:
                raise BackupError(
                    self.path, f"volume {target} already exists on {runtime.label}: restore into a new one"
                )
            runtime.volume_create(target, {"io.podshift.restored-from": name})
        try:
            runtime.volume_import(target, file_chunks(str(path)))
            restored = scan(runtime.volume_export(target), archive=f"{runtime.label}:{target}", safe=False)
            difference = compare_entries(archive.entries, restored.entries)
            if difference:
                raise BackupError(path, f"volume {target} does not match the manifest after restore: {difference}")
        except BaseException:
            if not into_empty:
                runtime.volume_remove(target, force=True)
            raise


class _Counter:
    def __init__(self, what: str, progress: Progress) -> None:
        self.what, self.progress, self.done = what, progress, 0

    def __call__(self, n: int) -> None:
        self.done += n
        self.progress(self.what, self.done, 0)


@contextlib.contextmanager
def _stopped_users(runtime: Runtime, project: ComposeProject, volume: str) -> Iterator[None]:
    """Stop the project's running containers that use *volume*; start them again afterwards, also on failure."""
    stopped = [c.name for c in runtime.containers_using(volume, project.name) if c.status == "running"]
    for name in stopped:
        log.info("stopping %s while %s is read", name, volume)
        runtime.stop(name)
    try:
        yield
    finally:
        for name in stopped:
            log.info("starting %s again", name)
            runtime.start(name)


def compare_entries(expected: Iterable[Entry], actual: Iterable[Entry]) -> str:
    """'' when two entry lists describe the same files; otherwise what differs (first few)."""
    expected, actual = list(expected), list(actual)
    want, got = comparable(expected), comparable(actual)
    problems = [f"missing {p!r}" for p in sorted(want.keys() - got.keys())]
    problems += [f"unexpected {p!r}" for p in sorted(got.keys() - want.keys())]
    problems += [f"changed {p!r}" for p in sorted(want.keys() & got.keys()) if want[p] != got[p]]
    if hardlink_groups(expected) != hardlink_groups(actual):
        problems.append("hardlinks differ")
    return "; ".join(problems[:5]) + (f" (+{len(problems) - 5} more)" if len(problems) > 5 else "")


def _check_manifest_files(path: Path) -> list[str]:
    problems = []
    for name in (JSON_NAME, TXT_NAME, SUMS_NAME):
        if not (path / name).is_file():
            problems.append(f"missing {name}")
    if problems:
        return problems
    data, text = (path / JSON_NAME).read_bytes(), (path / TXT_NAME).read_bytes()
    if sums(data, text) != (path / SUMS_NAME).read_bytes():
        recorded = dict(line.split("  ")[::-1] for line in (path / SUMS_NAME).read_text().splitlines() if "  " in line)
        for name, body in ((JSON_NAME, data), (TXT_NAME, text)):
            if recorded.get(name) != hashlib.sha256(body).hexdigest():
                problems.append(f"changed {name} (its checksum in {SUMS_NAME} does not match)")
        problems = problems or [f"changed {SUMS_NAME}"]
    return problems


def verify_dir(path: Path, *, deep: bool = True, hashes: bool = True) -> list[str]:
    """Every difference between a backup directory and its manifest, each naming the file.

    *deep* also re-reads every archive member against the manifest's entries.
    """
    problems = _check_manifest_files(path)
    if problems:
        return problems
    return _check_files(path, Manifest.from_json((path / JSON_NAME).read_bytes()), deep=deep, hashes=hashes)


def _check_files(path: Path, manifest: Manifest, *, deep: bool, hashes: bool) -> list[str]:
    """:func:`verify_dir` after the manifests themselves were checked."""
    problems: list[str] = []
    expected = {JSON_NAME, TXT_NAME, SUMS_NAME}
    for c in manifest.config:
        rel = f"config/{c.path}"
        expected.add(rel)
        f = path / rel
        if not f.is_file():
            problems.append(f"missing {rel}")
        elif f.stat().st_size != c.size or (hashes and _sha256(f) != c.sha256):
            problems.append(f"changed {rel}")
    for a in manifest.archives:
        expected.add(a.archive)
        f = path / a.archive
        if not f.is_file():
            problems.append(f"missing {a.archive}")
            continue
        if f.stat().st_size != a.size or (hashes and _sha256(f) != a.sha256):
            problems.append(f"changed {a.archive}")
            continue
        if not deep:
            continue
        try:
            entries = scan_file(str(f), archive=a.archive, safe=False)
        except PodshiftError as e:
            problems.append(f"unreadable {a.archive}: {e}")
            continue
        difference = compare_entries(a.entries, entries)
        if difference:
            problems.append(f"{a.archive} differs from the manifest: {difference}")
    present = {
        str(p.relative_to(path))
        for p in path.rglob("*")
        if (p.is_file() or p.is_symlink()) and not p.relative_to(path).parts[0].startswith(SNAPSHOT_DIR)
    }
    problems += [f"unexpected {p}" for p in sorted(present - expected)]
    return problems


__all__ = ["BACKUP_DIR", "CHUNK", "SNAPSHOT_DIR", "BackupError", "BackupStore", "compare_entries", "verify_dir"]
