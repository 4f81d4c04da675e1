"""filesystem: every volume's data under Podman equals the Docker volume as it was when Docker stopped."""

from __future__ import annotations

import os

import pytest

from podshift.backup.store import compare_entries
from podshift.backup.tarscan import Entry
from podshift.compose.model import ComposeProject
from podshift.paths import open_project_state_dir
from podshift.runtimes import DockerRuntime, PodmanRuntime
from podshift.steps import StepJournal
from podshift.volumes.transfer import VolumeRef, snapshot

pytestmark = [pytest.mark.post_migration, pytest.mark.category("filesystem")]


def _manifest(project: ComposeProject, name: str) -> list[Entry]:
    import json

    fd = open_project_state_dir(project.project_dir)
    try:
        f = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=fd)
    finally:
        os.close(fd)
    with os.fdopen(f, "rb") as fh:
        return [Entry(**e) for e in json.loads(fh.read())]


@pytest.mark.severity("critical")
@pytest.mark.check_id("postmigration.volume-data-equal")
def test_volume_data_equals_docker_at_the_stop(
    migrated: ComposeProject,
    migrate_journal: StepJournal,
    target_podman: PodmanRuntime,
    docker_engine: DockerRuntime,
    evidence,
) -> None:
    """Each Podman volume holds what the Docker volume held at the stop; Docker's volume is unchanged."""
    recorded = migrate_journal.data("volumes-final-sync")
    started = float(migrate_journal.steps().get("start-podman", {}).get("started") or 0)
    problems = []
    for name in migrated.named_volumes:
        at_stop = recorded.get(name)
        if not isinstance(at_stop, dict):
            problems.append(f"{name}: the journal has no verified copy of it")
            continue
        expected = _manifest(migrated, at_stop["manifest"])
        # Every byte of the stopped Docker volume hashed again, out of the downtime: the final pass trusted
        # the hashes taken while Docker served for files whose times did not change since, and a write
        # through a shared memory mapping, or one long write begun before the bulk copy, changes none.
        docker_now = snapshot(VolumeRef(docker_engine, name))
        if docker_now.digest() != at_stop["digest"]:
            changed = compare_entries(expected, docker_now.entries) or "its top directory"
            problems.append(
                f"{name}: Docker's stopped volume differs from what was verified at the stop ({changed}): "
                "written since, or during the copy without a change of its files' times — the Podman copy may "
                "lack it"
            )
        podman_now = snapshot(VolumeRef(target_podman, name)).entries
        # What the running stack wrote since it started under Podman is its own business, not a copy error.
        written = {e.path for e in podman_now if started and e.mtime >= int(started)}
        difference = compare_entries(
            [e for e in expected if e.path not in written], [e for e in podman_now if e.path not in written]
        )
        evidence(name, f"{at_stop['entries']} entries, digest {at_stop['digest'][:12]}, {len(written)} written since")
        if difference:
            problems.append(f"{name}: {difference}")
    assert not problems, f"volume data differs: {'; '.join(problems)} — `podshift recover volume-issues`"
