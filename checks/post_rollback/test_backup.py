"""backup: configuration and data are what was backed up (or, with --keep-data, what Podman had)."""

from __future__ import annotations

import pytest

from podshift.backup.store import BackupStore
from podshift.compose.model import ComposeProject
from podshift.rollback.verify import RollbackRecord, config_problems, volume_problems
from podshift.runtimes import DockerRuntime

pytestmark = [pytest.mark.post_rollback, pytest.mark.category("backup")]


@pytest.mark.severity("critical")
@pytest.mark.check_id("rollback.backup.config-as-backed-up")
def test_configuration_is_byte_identical_to_the_backup(rolled_back: ComposeProject, evidence) -> None:
    """Every backed-up configuration file is in place, byte-identical, with its mode and mtime."""
    store = BackupStore(rolled_back.project_dir)
    assert store.exists(), f"Backup directory not found: {store.path}; create one with `podshift backup`"
    evidence("backup", store.path)
    problems = config_problems(store)
    assert not problems, (
        f"configuration differs from the backup: {'; '.join(problems[:8])} — run `podshift rollback` again "
        "to restore it (or take a new backup if the change is wanted)"
    )


@pytest.mark.severity("critical")
@pytest.mark.check_id("rollback.backup.volume-data-verified")
def test_volume_data_equals_the_snapshot_or_the_backup(
    rolled_back: ComposeProject, docker_engine: DockerRuntime, rollback_record: RollbackRecord, evidence
) -> None:
    """Each Docker volume holds the Podman snapshot's data (--keep-data) or the backup's, file by file."""
    evidence("reference", "Podman snapshot" if rollback_record.keep_data else "backup")
    problems = volume_problems(docker_engine, rolled_back, rollback_record)
    assert not problems, f"volume data: {'; '.join(problems)} — run `podshift rollback` again; nothing was deleted"
