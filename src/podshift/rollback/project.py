"""The project a rollback works on, also when its compose file is gone.

A rollback must work when the migration (or a user) moved the compose file
away: the backup holds it.  Then the model is built by Compose itself from
the backup's copy, with the project directory as Compose's project
directory, so relative paths, the project name and bind sources are those
of the real project; the restore step puts the file back.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from podshift.backup.manifest import Manifest
from podshift.backup.store import BackupStore
from podshift.compose.model import (
    COMPOSE_FILE_NAMES,
    ComposeProject,
    files_from_environment,
    find_compose_files,
    load_project,
)
from podshift.errors import PodshiftError, ProjectError


def backed_up_compose_files(project_dir: Path) -> list[Path]:
    """The backup's copies of the compose file Compose would pick (and its override), if the backup has them."""
    store = BackupStore(project_dir)
    if not store.exists():
        return []
    try:
        manifest: Manifest = store.manifest()
    except PodshiftError:
        return []
    by_name = {Path(c.source).name: store.path / "config" / c.path for c in manifest.config
               if Path(c.source).parent == project_dir}  # fmt: skip
    for name in COMPOSE_FILE_NAMES:
        if name in by_name:
            stem, _, ext = name.rpartition(".")
            override = f"{stem}.override.{ext}"
            return [by_name[name], by_name[override]] if override in by_name else [by_name[name]]
    return []


def load_for_rollback(
    project_dir: Path | str,
    *,
    compose_files: Sequence[Path | str] = (),
    project_name: str | None = None,
    env: Mapping[str, str] | None = None,
) -> ComposeProject:
    """:func:`~podshift.compose.model.load_project`, or the model of the backed-up compose file when it is gone."""
    path = Path(project_dir).expanduser()
    given = bool(compose_files) or bool(files_from_environment(os.environ))
    if given or not path.is_dir() or find_compose_files(path.resolve()):
        return load_project(path, compose_files=compose_files, project_name=project_name, env=env)
    path = path.resolve()
    files = backed_up_compose_files(path)
    if not files:
        raise ProjectError(
            path,
            f"no compose file (looked for {', '.join(COMPOSE_FILE_NAMES)}), and no backup holding one "
            f"(Backup directory not found: {BackupStore(path).path}; create one with `podshift backup`)",
        )
    return load_project(path, compose_files=files, project_name=project_name, env=env)


def reload(project: ComposeProject) -> ComposeProject:
    """The model again from the project directory (after the restore step put the compose file back).

    The same files as before (``-f``, ``COMPOSE_FILE``) and name, unless they were the backup's copies:
    then the ones restored in their place.
    """
    backup = BackupStore(project.project_dir).path
    files = [f for f in project.compose_files if not f.is_relative_to(backup)]
    if len(files) != len(project.compose_files):
        files = []
    return load_project(project.project_dir, compose_files=files, project_name=project.name, env=project.env)
