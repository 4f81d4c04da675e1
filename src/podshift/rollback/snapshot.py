"""The Podman side's snapshot: the undo of a rollback.

Before a rollback touches anything, every project volume on Podman (and the
configuration and bind-mounted data as they are under Podman) is written to
``<project>/.docker-backup/podman-snapshot/`` by the backup's own code
(:class:`~podshift.backup.store.BackupStore`) reading the Podman engine:
same manifest, same checks, same atomicity (built in a temporary sibling,
verified, renamed), owners as the containers see them (a rootless volume is
read through ``podman volume export`` in the user's namespace).
"""

from __future__ import annotations

from pathlib import Path

from podshift.backup.manifest import Archive
from podshift.backup.store import BACKUP_DIR, SNAPSHOT_DIR, BackupStore


class PodmanSnapshot(BackupStore):
    """``<project>/.docker-backup/podman-snapshot/``: a backup, taken from Podman."""

    dir_name = SNAPSHOT_DIR

    @property
    def base(self) -> Path:
        return self.project_dir / BACKUP_DIR

    def archive_of(self, volume: str) -> Archive | None:
        """The snapshot's archive of volume *volume*, or None when Podman had no such volume."""
        return next((a for a in self.manifest().archives if a.kind == "volume" and a.name == volume), None)
