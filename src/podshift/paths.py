"""Where podshift keeps things: host state, project state and reports.

- Host state (the fixes journal, the backup signing key): ``/var/lib/podshift/``
  for root, ``$XDG_STATE_HOME/podshift/`` (default ``~/.local/state/podshift``)
  for everyone else.  ``PODSHIFT_STATE_DIR`` overrides (tests).
- Project state (step journals of migrate/rollback/recover, the project lock):
  ``<project>/.podshift/``.  Backups stay in ``<project>/.docker-backup/``.
- Reports: ``./reports/`` of the current directory, or ``--reports-dir``.

The project directory may be writable by someone hostile: the project state
directory is created 0700 and opened without following symlinks
(:func:`open_project_state_dir`), and everything in it is opened relative to
that descriptor.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from podshift.errors import PodshiftError

STATE_DIR_ENV = "PODSHIFT_STATE_DIR"
PROJECT_STATE_NAME = ".podshift"
BACKUP_DIR_NAME = ".docker-backup"
REPORTS_DIR_NAME = "reports"


class StateDirError(PodshiftError):
    """A state directory is missing, unsafe (a symlink, someone else's) or cannot be made."""

    def __init__(self, path: Path, problem: str) -> None:
        self.path = path
        super().__init__(f"state directory {path}: {problem}")


def host_state_dir() -> Path:
    """This user's host state directory (not created here)."""
    override = os.environ.get(STATE_DIR_ENV)
    if override:
        return Path(override)
    if os.geteuid() == 0:
        return Path("/var/lib/podshift")
    xdg = os.environ.get("XDG_STATE_HOME")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".local" / "state"
    return base / "podshift"


def project_state_dir(project_dir: Path) -> Path:
    """``<project>/.podshift`` (not created here; use :func:`open_project_state_dir` to use it)."""
    return project_dir / PROJECT_STATE_NAME


def backup_dir(project_dir: Path) -> Path:
    """``<project>/.docker-backup``."""
    return project_dir / BACKUP_DIR_NAME


def default_reports_dir() -> Path:
    """``./reports`` of the current directory."""
    return Path.cwd() / REPORTS_DIR_NAME


def reports_dir(chosen: str | os.PathLike[str] | None) -> Path:
    """The reports directory: *chosen* (``--reports-dir``, relative to the current directory) or the default."""
    if not chosen:
        return default_reports_dir()
    path = Path(chosen).expanduser()
    return path if path.is_absolute() else Path.cwd() / path


def open_project_state_dir(project_dir: Path) -> int:
    """Open (creating it 0700 if needed) ``<project>/.podshift`` and return a directory fd.

    Refuses a symlink in its place, and a directory owned by another user:
    files podshift writes there (journals, the lock) must not be redirected.
    The caller closes the fd.
    """
    path = project_state_dir(project_dir)
    try:
        parent = os.open(project_dir, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as e:
        raise StateDirError(path, f"cannot open the project directory: {e.strerror}") from e
    try:
        try:
            os.mkdir(PROJECT_STATE_NAME, 0o700, dir_fd=parent)
        except FileExistsError:
            pass
        except OSError as e:
            raise StateDirError(path, f"cannot create it: {e.strerror}") from e
        try:
            fd = os.open(PROJECT_STATE_NAME, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=parent)
        except OSError as e:
            raise StateDirError(path, f"not a directory podshift can use (a symlink?): {e.strerror}") from e
    finally:
        os.close(parent)
    st = os.fstat(fd)
    if st.st_uid != os.geteuid() or stat.S_IMODE(st.st_mode) & 0o022:
        os.close(fd)
        raise StateDirError(path, f"owned by uid {st.st_uid} with mode {stat.S_IMODE(st.st_mode):o}; remove it")
    return fd
