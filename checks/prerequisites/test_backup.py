"""backup: a backup of the project exists before anything is migrated."""

from __future__ import annotations

import time

import pytest

from podshift.compose.model import ComposeProject

pytestmark = [pytest.mark.prerequisites, pytest.mark.category("backup")]

MANIFEST = ".docker-backup/backup-manifest.txt"


@pytest.mark.severity("warning")
def test_a_backup_of_the_project_exists(project: ComposeProject, evidence) -> None:
    """A backup of the project exists (take one before migrating)."""
    manifest = project.project_dir / MANIFEST
    assert manifest.is_file(), (
        f"no backup at {manifest.parent}: take one before migrating "
        "(`podshift backup --include-data` arrives with the backup issue)"
    )
    age_h = (time.time() - manifest.stat().st_mtime) / 3600
    evidence("backup age", f"{age_h:.1f} h")
