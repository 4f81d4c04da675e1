"""The backup directory ``<project>/.docker-backup/``: create atomically, verify (restoring: ``backup.restore``).

Layout: ``backup-manifest.{json,txt,sha256}``, ``config/`` (the configuration
files, at their project-relative paths), ``volumes/<volume>.tar`` and
``binds/<n>.tar``.  The directory is 0700 and every file 0600 from the first
byte.  A backup is built in a temporary sibling, fsynced, verified and only
then renamed into place; with ``--force`` the previous backup is removed
only after the new one is in place.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import hashlib
import logging
import os
import shutil
import stat
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, ClassVar

from podshift.atomic import fsync_path
from podshift.backup import signing, trust
from podshift.backup.configs import backup_name, data_dirs, discover
from podshift.backup.direct import archive_directory
from podshift.backup.manifest import JSON_NAME, SUMS_NAME, TXT_NAME, Archive, ConfigFile, Manifest, sums
from podshift.backup.signing import SIG_NAME
from podshift.backup.tarscan import (
    CHUNK,
    Entry,
    comparable,
    copy_stream,
    file_chunks,
    hardlink_groups,
    scan_file,
)
from podshift.compose.model import ComposeProject
from podshift.errors import PodshiftError
from podshift.paths import PROJECT_STATE_NAME
from podshift.runtimes.base import PROJECT_LABEL, Runtime, VolumeInfo
from podshift.stopping import restart_leftovers, stopped

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
            for d in bind_data_dirs(project):
                items.append(PlannedItem("bind", str(d), _tree_size(d)))
        return items

    # -- creating ---------------------------------------------------------------------------------------
    def recover_interrupted(self) -> None:
        """Leave the previous good state usable after a crash: drop temporaries, put back an orphaned old backup."""
        for tmp in self.base.glob(f"{self.dir_name}.tmp-*"):
            pid = tmp.name.rsplit("-", 1)[-1]
            if not pid.isdigit() or not Path(f"/proc/{pid}").exists():
                self._keep_snapshot(tmp)
                shutil.rmtree(tmp, ignore_errors=True)
        olds = sorted(self.base.glob(f"{self.dir_name}.old-*"))
        if olds and not self.path.exists():
            os.rename(olds[-1], self.path)
        for old in self.base.glob(f"{self.dir_name}.old-*"):
            self._keep_snapshot(old)
            shutil.rmtree(old, ignore_errors=True)

    def _keep_snapshot(self, leaving: Path) -> None:
        """A rollback's Podman snapshot inside a backup directory that goes away moves to the one in place.

        It is not part of the backup: replacing the backup (or a crash while it was
        replaced) must not take it along.
        """
        if self.dir_name != BACKUP_DIR or not (leaving / SNAPSHOT_DIR).is_dir() or not self.path.is_dir():
            return
        if not (self.path / SNAPSHOT_DIR).exists():
            os.rename(leaving / SNAPSHOT_DIR, self.path / SNAPSHOT_DIR)
            fsync_path(self.path)

    def create(
        self,
        project: ComposeProject,
        runtime: Runtime | None,
        *,
        include_data: bool,
        force: bool,
        progress: Progress = _no_progress,
        allow_fewer_volumes: bool = False,
    ) -> Manifest:
        """Build, verify and put in place a new backup (see the module docstring).

        With *include_data*, the backup must hold every volume the compose
        model declares and at least as many as the backup it replaces, unless
        *allow_fewer_volumes*.
        """
        self.recover_interrupted()
        if include_data and runtime is None:
            raise BackupError(self.path, "--include-data needs the engine that holds the volumes")
        if runtime is not None and include_data:
            restarted = restart_leftovers(runtime, self.project_dir)
            if restarted:
                log.warning("started %s again: an interrupted podshift run had stopped them", ", ".join(restarted))
        self._check_existing(force)
        plan = self._volume_plan(project, runtime, allow_fewer_volumes) if include_data and runtime else []
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
                    # Every writer stops once, for the whole read: one outage per service, and one moment
                    # for the whole backup (an application writing two volumes finds them as it left them).
                    writers = self._writers(project, runtime, plan)
                    with stopped(runtime, self.project_dir, writers, "the backup reads their data"):
                        self._copy_volumes(project, runtime, tmp, manifest, progress, syncer, plan)
                        self._copy_bind_data(project, runtime, tmp, manifest, progress, syncer)
                self._write_manifests(tmp, manifest, syncer)
            # Every archive was hashed as it was written, and on the fast path nothing in the directory
            # changed while tar and the walk read it (ctimes, checked by archive_directory), so walk and
            # archive agree; here the manifests as written and the files' presence and sizes are checked
            # (`--verify` and restore re-read every member).
            problems = _check_manifest_files(tmp) or _check_files(tmp, manifest, deep=False, hashes=False)
            if problems:
                raise BackupError(tmp, "the new backup does not verify: " + "; ".join(problems[:5]))
            self._put_in_place(tmp)
            trust.record(self.path, "podshift backup (every byte hashed as written)")
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
            if source.link:
                st = os.lstat(source.path)
                manifest.config.append(
                    ConfigFile(
                        rel, str(source.path), 0, 0o777, st.st_mtime, "", source.sensitive, source.link, st.st_mtime_ns
                    )
                )
                continue
            dest = tmp / "config" / rel
            _private_dirs(tmp, dest.parent)
            # Read through a descriptor opened without following a symlink: a file swapped for a link
            # since discover() must not pull another file (as root: any file) into the backup.
            with open(os.open(source.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC), "rb") as src:
                st = os.fstat(src.fileno())
                h = hashlib.sha256()
                with _private_file(dest) as out:
                    while chunk := src.read(CHUNK):
                        h.update(chunk)
                        out.write(chunk)
            os.utime(dest, ns=(st.st_atime_ns, st.st_mtime_ns))
            manifest.config.append(
                ConfigFile(
                    rel,
                    str(source.path),
                    st.st_size,
                    st.st_mode & 0o7777,
                    st.st_mtime,
                    h.hexdigest(),
                    source.sensitive,
                    mtime_ns=st.st_mtime_ns,
                )
            )
            done += st.st_size
            progress("configuration", done, len(manifest.config))

    def _volume_plan(
        self, project: ComposeProject, runtime: Runtime, allow_fewer_volumes: bool
    ) -> list[tuple[str, VolumeInfo, Path | None]]:
        """(name, volume, directory to read it from or None for the engine) of each volume to back up.

        Refuses, naming them, what would make a backup hold less than it should
        (unless *allow_fewer_volumes*): volumes the model declares that the
        engine lacks, tmpfs volumes (their data does not survive any stop), and
        a backup with fewer volumes than the one it replaces; and running
        containers outside the project that write to a project volume.
        """
        plan: list[tuple[str, VolumeInfo, Path | None]] = []
        missing: list[str] = []
        for key, spec in project.volumes.items():
            if (spec or {}).get("external"):
                continue
            name = project.volume_name(key)
            info = runtime.volume(name)
            if info is None:
                missing.append(f"{name} (not on {runtime.label})")
                continue
            opts = {str(k): str(v) for k, v in ((spec or {}).get("driver_opts") or {}).items()}
            if opts.get("type") == "tmpfs":
                log.warning("volume %s is a tmpfs: its data does not survive any stop, and is not backed up", name)
                missing.append(f"{name} (tmpfs: its data does not survive a stop)")
                continue
            source = runtime.direct_path(info)
            if "bind" in opts.get("o", "").split(",") and opts.get("device"):
                # The volume's directory is only a mount point, empty once the containers stop: read the device.
                source = Path(opts["device"])
                if not source.is_absolute():
                    source = project.project_dir / source
                if os.geteuid() != 0 and not os.access(source, os.R_OK | os.X_OK):
                    raise BackupError(name, f"a bind volume of {source}, which this user cannot read")
            self._refuse_outside_writers(project, runtime, name)
            plan.append((name, info, source))
        previous = self._previous_volume_count()
        if not allow_fewer_volumes:
            if missing:
                raise BackupError(
                    self.path,
                    f"the compose model declares {len(plan) + len(missing)} volume(s), this backup would hold "
                    f"{len(plan)}: missing {', '.join(missing)}; check --engine, or pass --allow-fewer-volumes",
                )
            if previous is not None and len(plan) < previous:
                raise BackupError(
                    self.path,
                    f"the backup it would replace holds {previous} volume(s), this one would hold {len(plan)}; "
                    "check --engine, or pass --allow-fewer-volumes",
                )
        return plan

    def _previous_volume_count(self) -> int | None:
        if not self.exists():
            return None
        try:
            return sum(1 for a in _load_manifest(self.path).archives if a.kind == "volume")
        except BackupError:
            return None  # an unreadable old backup holds nothing worth keeping count of

    @staticmethod
    def _refuse_outside_writers(project: ComposeProject, runtime: Runtime, volume: str) -> None:
        writers = [
            c.name
            for c in runtime.containers_mounting(volume)
            if c.status == "running" and volume in c.writable_volumes and c.labels.get(PROJECT_LABEL) != project.name
        ]
        if writers:
            raise BackupError(
                volume,
                f"running container(s) outside project {project.name} write to it: {', '.join(writers)}; "
                "stop them for the backup (podshift only stops the project's own containers)",
            )

    def _copy_volumes(
        self,
        project: ComposeProject,
        runtime: Runtime,
        tmp: Path,
        manifest: Manifest,
        progress: Progress,
        syncer: _Syncer,
        plan: list[tuple[str, VolumeInfo, Path | None]],
    ) -> None:
        (tmp / "volumes").mkdir(mode=0o700)
        for name, _info, direct in plan:
            rel = f"volumes/{name}.tar"
            fast = direct is not None and shutil.which("tar") is not None
            with _private_file(tmp / rel, sync=False) as out:
                if direct is not None and fast:
                    entries, digest, size = archive_directory(direct, out.fileno(), functools.partial(progress, name))
                else:
                    digest, size = copy_stream(runtime.volume_export(name), out, _Counter(name, progress))
            syncer.submit(tmp / rel)
            if not fast:
                # Members are read back from the file just written (page cache, random access):
                # faster than parsing the engine's stream, and it is the archive that will be restored.
                entries = scan_file(str(tmp / rel), archive=rel, safe=False)
            _refuse_devices(name, entries)
            manifest.archives.append(Archive(name, "volume", rel, digest, size, entries))
            log.info("volume %s%s: %d entries, %d bytes", name, " (read directly)" if fast else "", len(entries), size)

    @staticmethod
    def _writers(
        project: ComposeProject, runtime: Runtime, plan: list[tuple[str, VolumeInfo, Path | None]]
    ) -> list[str]:
        """The project's running containers that use a volume or write a bind-mounted data directory."""
        users = [u for name, _info, _direct in plan for u in _running_users(runtime, project, name)]
        users += [u for directory in bind_data_dirs(project) for u in _bind_writers(runtime, project, directory)]
        return list(dict.fromkeys(users))

    def _copy_bind_data(
        self,
        project: ComposeProject,
        runtime: Runtime,
        tmp: Path,
        manifest: Manifest,
        progress: Progress,
        syncer: _Syncer,
    ) -> None:
        for i, directory in enumerate(bind_data_dirs(project)):
            (tmp / "binds").mkdir(mode=0o700, exist_ok=True)
            rel = f"binds/{i}.tar"
            # Read fd-relative, never following a symlink (GNU tar + the descriptor walk of the fast
            # path), with the containers that write it stopped, and without podshift's own directories.
            with _private_file(tmp / rel, sync=False) as out:
                entries, digest, size = archive_directory(
                    directory,
                    out.fileno(),
                    functools.partial(progress, str(directory)),
                    exclude=own_dirs_below(self.project_dir, directory),
                )
            syncer.submit(tmp / rel)
            _refuse_devices(str(directory), entries)
            manifest.archives.append(Archive(str(directory), "bind", rel, digest, size, entries))

    @staticmethod
    def _write_manifests(tmp: Path, manifest: Manifest, syncer: _Syncer) -> None:
        data, text = manifest.to_json(), manifest.to_text()  # while the archives are being fsynced
        checksums = sums(data, text)
        bodies = ((JSON_NAME, data), (TXT_NAME, text), (SUMS_NAME, checksums), (SIG_NAME, signing.sign(checksums)))
        for name, body in bodies:
            with _private_file(tmp / name) as f:
                f.write(body)
        syncer.wait()
        for d in [tmp, *(p for p in tmp.rglob("*") if p.is_dir())]:
            fsync_path(d)

    def _check_existing(self, force: bool) -> None:
        """What is at ``.docker-backup`` now: a symlink is refused, an empty directory is no backup."""
        try:
            st = os.lstat(self.path)
        except FileNotFoundError:
            return
        if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
            raise BackupError(
                self.path, "is a symlink or not a directory: podshift does not write through it; move it away"
            )
        if not os.listdir(self.path):
            os.rmdir(self.path)  # an empty directory (as a permissions fix makes) holds no backup
            return
        if not force:
            raise BackupError(
                self.path,
                "a backup already exists: verify it with `podshift backup --verify`, "
                "or replace it with --force (the old one stays until the new one is verified)",
            )

    def _put_in_place(self, tmp: Path) -> None:
        """Swap the new backup in with one atomic exchange, so no moment exists without a backup in place."""
        if os.path.lexists(self.path):
            if _exchange(tmp, self.path):
                fsync_path(self.base)
                self._keep_snapshot(tmp)
                shutil.rmtree(tmp)  # now the previous backup
                return
            old = self.base / f"{self.dir_name}.old-{os.getpid()}"  # a filesystem without RENAME_EXCHANGE
            os.rename(self.path, old)
            os.rename(tmp, self.path)
            fsync_path(self.base)
            self._keep_snapshot(old)
            shutil.rmtree(old)
            return
        os.rename(tmp, self.path)
        fsync_path(self.base)

    # -- verifying -----------------------------------------------------------------------------------------
    def verify(self, *, trust_backup: bool = False) -> list[str]:
        """Every difference between the backup and its manifest (empty: it verifies).

        A signature that cannot be checked here (another host, another key)
        is a problem unless *trust_backup*; one that does not match always is.
        """
        path = self._readable_path()
        # A concurrent `backup --force` may swap the backup while it is read: verify again if it changed.
        problems: list[str] = []
        for _ in range(5):
            try:
                before = os.lstat(path).st_ino
                problems = verify_dir(path, trust_backup=trust_backup)
                if os.lstat(path).st_ino == before:
                    if not problems and path == self.path:
                        trust.record(self.path, "podshift backup --verify")  # the readiness check trusts it
                    return problems
            except FileNotFoundError:
                pass  # swapped out under us: read the new one
            path = self._readable_path()
        return problems

    def _readable_path(self) -> Path:
        """The backup to read: ``.docker-backup``, or the one an interrupted run left as ``.old-PID``."""
        try:
            st = os.lstat(self.path)
        except FileNotFoundError:
            olds = sorted(self.base.glob(f"{self.dir_name}.old-*"))
            if olds:
                log.warning("no %s, but %s (an interrupted backup): verifying that", self.path, olds[-1])
                return olds[-1]
            raise BackupError(self.path, "no backup here: take one with `podshift backup`") from None
        if not stat.S_ISDIR(st.st_mode):
            raise BackupError(self.path, "is a symlink or not a directory: not a backup podshift wrote")
        if not (self.path / JSON_NAME).exists():
            raise BackupError(self.path, f"no {JSON_NAME}: not a backup (take one with `podshift backup`)")
        return self.path

    def manifest(self, *, trust_backup: bool = False) -> Manifest:
        """The manifest, once both manifests match their checksums and the signature allows it."""
        path = self._readable_path()
        problems = _check_manifest_files(path, trust_backup=trust_backup)
        if problems:
            raise BackupError(path, "; ".join(problems))
        return _load_manifest(path)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (``renameat2(RENAME_EXCHANGE)``); False where the system cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


class _Counter:
    def __init__(self, what: str, progress: Progress) -> None:
        self.what, self.progress, self.done = what, progress, 0

    def __call__(self, n: int) -> None:
        self.done += n
        self.progress(self.what, self.done, 0)


def _running_users(runtime: Runtime, project: ComposeProject, volume: str) -> list[str]:
    """The project's running containers that mount *volume*: stopped while it is read."""
    return [c.name for c in runtime.containers_using(volume, project.name) if c.status == "running"]


def _bind_writers(runtime: Runtime, project: ComposeProject, directory: Path) -> list[str]:
    """The project's running containers whose service bind-mounts *directory* (or a path in or above it) writably."""
    services = {
        s.name
        for s in project.services.values()
        for m in s.mounts
        if m.type == "bind"
        and not m.read_only
        and (Path(m.source).is_relative_to(directory) or directory.is_relative_to(m.source))
    }
    return [c.name for c in runtime.project_containers(project.name) if c.status == "running" and c.service in services]


#: Bind sources that are the host's system, not an application's data: never archived.
_SYSTEM_DIRS = (Path("/proc"), Path("/sys"), Path("/dev"), Path("/run"), Path("/var/run"))


def bind_data_dirs(project: ComposeProject) -> list[Path]:
    """The bind-mounted data directories to back up: refuses the host's root, skips pseudo filesystems."""
    dirs = []
    for d in data_dirs(project):
        if d == Path("/"):
            raise BackupError(
                d,
                "a service bind-mounts the host's root directory: podshift does not back up the whole host; "
                "back up what the service needs and bind that instead",
            )
        if any(d == s or d.is_relative_to(s) for s in _SYSTEM_DIRS):
            log.warning("bind source %s is a system (pseudo) filesystem: not backed up", d)
            continue
        dirs.append(d)
    return dirs


def own_dirs_below(project_dir: Path, directory: Path) -> tuple[str, ...]:
    """Patterns (relative to *directory*) of podshift's own directories inside it: never part of a backup."""
    if not project_dir.is_relative_to(directory):
        return ()
    inner = project_dir.relative_to(directory)
    prefix = "" if str(inner) == "." else f"{inner}/"
    return tuple(
        f"{prefix}{name}"
        for name in (BACKUP_DIR, f"{BACKUP_DIR}.*", PROJECT_STATE_NAME, ".podshift-tmp-*", ".podshift.lock")
    )


def _tree_size(root: Path) -> int:
    """Bytes of the regular files below *root*: iterative, one filesystem, no symlink followed."""
    total = 0
    try:
        device = os.lstat(root).st_dev
    except OSError:
        return 0
    pending = [str(root)]
    while pending:
        directory = pending.pop()
        try:
            with os.scandir(directory) as it:
                for entry in it:
                    st = entry.stat(follow_symlinks=False)
                    if st.st_dev != device:
                        continue
                    if entry.is_dir(follow_symlinks=False):
                        pending.append(entry.path)
                    elif entry.is_file(follow_symlinks=False):
                        total += st.st_size
        except OSError:
            continue  # unreadable: the plan is an estimate
    return total


def _refuse_devices(what: str, entries: Iterable[Entry]) -> None:
    """Device nodes are refused up front: restore could not put them back everywhere (rootless Podman cannot)."""
    devices = [e.path for e in entries if e.type in ("char", "block")]
    if devices:
        shown = ", ".join(repr(p) for p in devices[:5]) + (f" (+{len(devices) - 5} more)" if len(devices) > 5 else "")
        raise BackupError(
            what,
            f"holds device node(s) {shown}: podshift cannot restore them on every engine; remove them "
            "(containers that need devices get them with `devices:` in the compose file)",
        )


def compare_entries(expected: Iterable[Entry], actual: Iterable[Entry]) -> str:
    """'' when two entry lists describe the same files; otherwise what differs (first few)."""
    expected, actual = list(expected), list(actual)
    want, got = comparable(expected), comparable(actual)
    same_links = hardlink_groups(expected) == hardlink_groups(actual)
    if same_links and want == got:
        return ""  # the common case, decided by one dict comparison (no sorting of every path)
    problems = [f"missing {p!r}" for p in sorted(want.keys() - got.keys())]
    problems += [f"unexpected {p!r}" for p in sorted(got.keys() - want.keys())]
    problems += [f"changed {p!r}" for p in sorted(want.keys() & got.keys()) if want[p] != got[p]]
    if not same_links:
        problems.append("hardlinks differ")
    return "; ".join(problems[:5]) + (f" (+{len(problems) - 5} more)" if len(problems) > 5 else "")


def _read_sums(path: Path) -> dict[str, str]:
    """``backup-manifest.sha256`` as {file name: digest}; a line podshift did not write is an error naming it."""
    recorded: dict[str, str] = {}
    raw = (path / SUMS_NAME).read_bytes()
    for number, line in enumerate(raw.decode("utf-8", "replace").splitlines(), 1):
        digest, sep, name = line.partition("  ")
        if not sep or len(digest) != 64 or name not in (JSON_NAME, TXT_NAME):
            raise BackupError(path / SUMS_NAME, f"line {number} is not '<sha256>  <manifest name>': {line[:80]!r}")
        recorded[name] = digest
    return recorded


def _check_manifest_files(path: Path, *, trust_backup: bool = False) -> list[str]:
    problems = []
    for name in (JSON_NAME, TXT_NAME, SUMS_NAME):
        if not (path / name).is_file():
            problems.append(f"missing {name}")
    if problems:
        return problems
    data, text, checksums = (
        (path / JSON_NAME).read_bytes(),
        (path / TXT_NAME).read_bytes(),
        (path / SUMS_NAME).read_bytes(),
    )
    if sums(data, text) != checksums:
        recorded = _read_sums(path)
        for name, body in ((JSON_NAME, data), (TXT_NAME, text)):
            if recorded.get(name) != hashlib.sha256(body).hexdigest():
                problems.append(f"changed {name} (its checksum in {SUMS_NAME} does not match)")
        return problems or [f"changed {SUMS_NAME}"]
    sig_path = path / SIG_NAME
    signature = signing.check(checksums, sig_path.read_bytes() if sig_path.is_file() else None)
    if signature.verdict == signing.TAMPERED:
        problems.append(f"tampered {SIG_NAME}: {signature.detail}")
    elif signature.verdict == signing.UNCHECKABLE and not trust_backup:
        problems.append(f"{signature.detail}; if you trust this backup, pass --trust-backup")
    elif signature.verdict == signing.UNCHECKABLE:
        log.warning("%s: %s (trusted: --trust-backup)", path, signature.detail)
    return problems


def _load_manifest(path: Path) -> Manifest:
    """``backup-manifest.json`` parsed; anything podshift did not write is one line naming the file."""
    try:
        return Manifest.from_json((path / JSON_NAME).read_bytes())
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        raise BackupError(path / JSON_NAME, f"not a manifest this podshift wrote ({type(e).__name__}: {e})") from e


def verify_dir(path: Path, *, deep: bool = True, hashes: bool = True, trust_backup: bool = False) -> list[str]:
    """Every difference between a backup directory and its manifest, each naming the file.

    *deep* also re-reads every archive member against the manifest's entries.
    """
    problems = _check_manifest_files(path, trust_backup=trust_backup)
    if problems:
        return problems
    return _check_files(path, _load_manifest(path), deep=deep, hashes=hashes)


def _check_files(path: Path, manifest: Manifest, *, deep: bool, hashes: bool) -> list[str]:
    """:func:`verify_dir` after the manifests themselves were checked."""
    problems: list[str] = []
    expected = {JSON_NAME, TXT_NAME, SUMS_NAME, SIG_NAME}
    for c in manifest.config:
        if c.link:
            continue  # a symlink: recorded in the manifest only
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
    problems += _check_tree(path, expected)
    return problems


def _check_tree(path: Path, expected_files: set[str]) -> list[str]:
    """Everything in the backup directory that should not be there, or not be so: extra entries of any
    type (empty directories, FIFOs, symlinks too), and modes other than the 0700/0600 a backup is made with."""
    expected_dirs: set[str] = {"config", "volumes", "binds"}  # present even when empty
    for f in expected_files:
        parts = f.split("/")
        expected_dirs |= {"/".join(parts[:i]) for i in range(1, len(parts))}
    problems: list[str] = []
    top = stat.S_IMODE(os.lstat(path).st_mode)
    if top != 0o700:
        problems.append(f"changed mode of the backup directory ({top:04o}, it is made 0700)")
    pending = [""]
    while pending:  # iterative: a crafted deep tree must not exhaust the stack
        rel_dir = pending.pop()
        with os.scandir(path / rel_dir if rel_dir else path) as it:
            for entry in it:
                if not rel_dir and entry.name.startswith(SNAPSHOT_DIR):
                    continue  # a rollback's snapshot of the Podman side: beside the backup, not part of it
                rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
                st = entry.stat(follow_symlinks=False)
                mode = stat.S_IMODE(st.st_mode)
                if stat.S_ISDIR(st.st_mode) and rel in expected_dirs:
                    if mode != 0o700:
                        problems.append(f"changed mode of {rel}/ ({mode:04o}, a backup's directories are 0700)")
                    pending.append(rel)
                elif stat.S_ISREG(st.st_mode) and rel in expected_files:
                    if mode != 0o600:
                        problems.append(f"changed mode of {rel} ({mode:04o}, a backup's files are 0600)")
                else:
                    kind = "directory" if stat.S_ISDIR(st.st_mode) else "file" if stat.S_ISREG(st.st_mode) else "entry"
                    what = {stat.S_IFLNK: "symlink", stat.S_IFIFO: "FIFO", stat.S_IFSOCK: "socket"}.get(
                        stat.S_IFMT(st.st_mode), kind
                    )
                    problems.append(f"unexpected {rel} ({what})")
    return sorted(problems)


__all__ = ["BACKUP_DIR", "CHUNK", "SNAPSHOT_DIR", "BackupError", "BackupStore", "compare_entries", "verify_dir"]
