"""backup: a verified backup of the project exists before anything is migrated."""

from __future__ import annotations

import json
import time

import pytest

from podshift.backup import trust
from podshift.backup.manifest import JSON_NAME
from podshift.backup.store import BackupStore, verify_dir
from podshift.compose.model import ComposeProject

pytestmark = [pytest.mark.prerequisites, pytest.mark.category("backup")]


@pytest.mark.check_id("backup.verified-backup-exists")
@pytest.mark.severity("warning")
def test_a_verified_backup_of_the_project_exists(project: ComposeProject, evidence) -> None:
    """A verified backup of the project exists (take one before migrating)."""
    store = BackupStore(project.project_dir)
    assert store.exists(), f"no backup at {store.path}: take one before migrating: `podshift backup --include-data`"
    # Structure, manifests (and their signature) and sizes: cheap whatever the backup's size.
    problems = verify_dir(store.path, deep=False, hashes=False)
    seen = trust.trusted(store.path) if not problems else None
    if seen is not None:
        when, how = seen
        evidence("contents", f"deep-verified {(time.time() - when) / 3600:.1f} h ago by {how}; the files are unchanged")
    elif not problems:
        problems = store.verify()  # re-hashes everything once, and records it for the next runs
        evidence("contents", "deep-verified now (no earlier verification of these very files)")
    assert not problems, (
        f"the backup at {store.path} does not verify ({'; '.join(problems[:3])}): "
        "take a new one with `podshift backup --include-data --force`"
    )
    # Two header fields of the manifest just verified: no need to build its 20,000 entries again.
    header = json.loads((store.path / JSON_NAME).read_bytes())
    age_h = (time.time() - float(header["created"])) / 3600
    included = bool(header["include_data"])
    evidence("backup", f"{store.path} ({age_h:.1f} h old, data {'included' if included else 'not included'})")
    evidence("manifest", store.path / JSON_NAME)
    assert included, "the backup holds configuration only: take one with --include-data before migrating"
