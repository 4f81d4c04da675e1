"""The rollback's snapshot of the Podman side, on real rootful and rootless Podman: the backup's code and format,
owners as the container sees them, and it lives beside the backup without disturbing it."""

from __future__ import annotations

import pytest

from podshift.backup.restore import restore_volume
from podshift.backup.store import BackupStore
from podshift.rollback.snapshot import PodmanSnapshot
from podshift.runtimes import DockerRuntime, PodmanRuntime

from .test_backup import awkward, listing

pytestmark = pytest.mark.xdist_group("podman")


@pytest.mark.parametrize("engine", ["podman_runtime", "rootless_podman_runtime"])
def test_snapshot_of_a_podman_volume_sits_beside_the_backup(
    engine: str, request: pytest.FixtureRequest, docker_runtime: DockerRuntime
) -> None:
    podman: PodmanRuntime = request.getfixturevalue(engine)
    with awkward(podman) as (project, volume):
        backup = BackupStore(project.project_dir)
        backup.create(project, None, include_data=False, force=False)
        snapshot = PodmanSnapshot(project.project_dir)
        assert snapshot.path == project.project_dir / ".docker-backup" / "podman-snapshot"
        manifest = snapshot.create(project, podman, include_data=True, force=False)
        assert snapshot.verify() == []
        assert backup.verify() == [], "the snapshot inside .docker-backup/ must not disturb the backup's verification"
        archive = snapshot.archive_of(volume)
        assert archive is not None
        assert archive.sha256 == manifest.archives[0].sha256
        owners = {e.path: (e.uid, e.gid) for e in archive.entries}
        assert owners["owned-999"] == (999, 999), "owners as the container sees them"
        assert snapshot.path.stat().st_mode & 0o777 == 0o700

        # Replacing the backup keeps the snapshot (it is not part of the backup).
        backup.create(project, None, include_data=False, force=True)
        assert snapshot.verify() == []
        assert backup.verify() == []

        # A tampered snapshot is caught, naming the file.
        tar = snapshot.path / archive.archive
        with open(tar, "r+b") as f:
            f.seek(600)
            f.write(b"X")
        assert any(archive.archive in p for p in snapshot.verify())

        # The snapshot restores into Docker as the Podman container saw it.
        snapshot.create(project, podman, include_data=True, force=True)
        original = listing(podman, volume)
        target = f"{volume}-restored"
        restore_volume(snapshot, volume, docker_runtime, target)
        try:
            assert listing(docker_runtime, target) == original
        finally:
            docker_runtime.volume_remove(target, force=True)
