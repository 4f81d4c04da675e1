"""Step 4: the data back into Docker's volumes, verified, with Docker's previous content recoverable until then.

With ``--keep-data`` each compose volume's data comes from Podman (what was
written there since the migration) and is verified file by file against the
snapshot of step 2.  Without it, each Docker volume is compared with the
backup and restored from it where it differs.  Either way the Docker volume's
previous content is first moved aside (``<volume>-podshift-aside``) and only
dropped once the new content verified; the journal records each volume's
phase, so an interrupted run resumes without losing either side.  Finally the
bind-mounted directories get back the owners Docker's containers had.
"""

from __future__ import annotations

from typing import Any

from podshift.backup.restore import restore_volume
from podshift.backup.store import BackupStore
from podshift.backup.tarscan import Entry
from podshift.compose.model import ComposeProject
from podshift.errors import EngineUnavailable, PodshiftError
from podshift.remediation import Plan, VolumeMove
from podshift.rollback import binds
from podshift.rollback.snapshot import PodmanSnapshot
from podshift.rollback.volumes import (
    aside_name,
    compare_since,
    empty,
    ensure_volume,
    move_aside,
    read_entries,
)
from podshift.runtimes.docker import DockerRuntime
from podshift.runtimes.podman import PodmanRuntime
from podshift.steps import Step, StepContext, StepFailed
from podshift.volumes.transfer import VolumeRef, transfer_volume

from .common import RERUN, current_project, docker, podman

# A volume's phases, in order (journaled before each is entered).
MOVING_ASIDE, ASIDE, COPYING, VERIFIED, FINISHED = "moving-aside", "aside", "copying", "verified", "finished"


def _source_of(
    ctx: StepContext, volume: str, podman_rt: PodmanRuntime | None, snapshot: PodmanSnapshot, backup: BackupStore
) -> str | None:
    """Where *volume*'s data comes from: "podman" (--keep-data and Podman has it), "backup", or None."""
    if (
        ctx.options.keep_data
        and podman_rt is not None
        and snapshot.exists()
        and snapshot.archive_of(volume) is not None
        and podman_rt.volume(volume) is not None
    ):
        return "podman"
    if backup.exists() and any(a.kind == "volume" and a.name == volume for a in backup.manifest().archives):
        return "backup"
    return None


class MigrateData(Step):
    name = "migrate-data"
    title = "Put the data back into Docker's volumes (--keep-data: Podman's, else the backup's), verified"
    action = "rollback"
    order = 40
    after = ("restore-docker-config",)

    def plan(self, ctx: StepContext) -> Plan:
        project = ctx.project
        backup, snapshot = BackupStore(project.project_dir), PodmanSnapshot(project.project_dir)
        podman_rt: PodmanRuntime | None = None
        sizes: dict[str, int] = {}
        try:
            ctx.podman().ping()
            podman_rt = ctx.podman()
            sizes = podman_rt.volume_sizes()
        except EngineUnavailable:
            pass  # planned from the backup alone
        moves, notes = [], []
        for volume in project.named_volumes:
            source = _source_of(ctx, volume, podman_rt, snapshot, backup)
            if source == "podman" and podman_rt is not None:
                size = sizes.get(volume, 0)
                moves.append(VolumeMove(volume, size, f"{podman_rt.label}:{volume}", f"docker:{volume}"))
            elif source == "backup":
                notes.append(f"volume {volume}: checked against the backup, restored from it where it differs")
            else:
                notes.append(f"volume {volume}: no data recorded for it; Docker's volume is left as it is")
        notes.append(f"Docker's previous content is moved aside to <volume>{aside_name('')} until the copy verifies")
        owners = self._owners(project)
        if owners:
            notes.append(f"bind-mount owners to put back: {len(binds.differing(owners))} path(s)")
        return Plan(self.name, "project", self.title, volumes=tuple(moves), notes=tuple(notes))

    @staticmethod
    def _owners(project: ComposeProject) -> list[binds.Owner]:
        recorded = binds.owners_from_migrate_journal(project.project_dir)
        if recorded:
            return recorded
        backup = BackupStore(project.project_dir)
        try:
            return binds.owners_from_backup(backup) if backup.exists() else []
        except (OSError, PodshiftError):
            return []

    def run(self, ctx: StepContext) -> str:
        project = current_project(ctx)
        docker_rt = docker(ctx, self.name)
        ctx.record("keep_data", ctx.options.keep_data)
        backup, snapshot = BackupStore(project.project_dir), PodmanSnapshot(project.project_dir)
        podman_rt = podman(ctx, self.name) if ctx.options.keep_data else None
        phases: dict[str, Any] = dict(ctx.recorded("volumes", {}) or {})
        results = []
        for volume in project.named_volumes:
            source = _source_of(ctx, volume, podman_rt, snapshot, backup)
            if source is None:
                results.append(f"{volume}: nothing recorded, left as it is")
                continue
            try:
                results.append(self._one(ctx, project, volume, source, docker_rt, podman_rt, phases))
            except PodshiftError as e:
                raise StepFailed(
                    self.name,
                    f"volume {volume}: {e} (Docker's previous content is kept in {aside_name(volume)} "
                    "when it was moved aside)",
                    RERUN,
                ) from e
        changed = binds.put_back(self._owners(project))
        ctx.record("bind_owners_restored", changed)
        owners = f"; bind-mount owners put back on {len(changed)} path(s)" if changed else ""
        return "; ".join(results) + owners

    def _one(
        self,
        ctx: StepContext,
        project: ComposeProject,
        volume: str,
        source: str,
        docker_rt: DockerRuntime,
        podman_rt: PodmanRuntime | None,
        phases: dict[str, Any],
    ) -> str:
        def phase(value: str) -> None:
            phases[volume] = {"phase": value, "source": source}
            ctx.record("volumes", phases)

        store: BackupStore = (
            PodmanSnapshot(project.project_dir) if source == "podman" else BackupStore(project.project_dir)
        )
        archive = next(a for a in store.manifest().archives if a.kind == "volume" and a.name == volume)
        current = (phases.get(volume) or {}).get("phase")
        if current == FINISHED:
            return f"{volume}: already done"
        if current is None:
            ensure_volume(docker_rt, project, volume)
            if source == "backup" and not compare_since(archive.entries, read_entries(docker_rt, volume)):
                phase(FINISHED)
                return f"{volume}: matches the backup, unchanged"
            phase(MOVING_ASIDE)
            current = MOVING_ASIDE
        if current == MOVING_ASIDE:
            move_aside(docker_rt, volume)  # resumable: what is left is moved, what moved stays
            phase(ASIDE)
            current = ASIDE
        if current in (ASIDE, COPYING):
            phase(COPYING)
            empty(docker_rt, volume)  # a copy interrupted half-way starts again from nothing
            if source == "podman":
                if podman_rt is None:  # _source_of only says "podman" with an engine at hand
                    raise PodshiftError("Podman is needed to copy its data, and is not connected")
                # The copy was verified entry by entry against Podman's volume as it was read: comparing
                # that reading with the snapshot proves the Docker volume too, without reading it again.
                copied = self._copy_from_podman(ctx, podman_rt, docker_rt, volume)
            else:
                restore_volume(store, volume, docker_rt, volume, trust_backup=ctx.options.trust_backup, into_empty=True)
                copied = read_entries(docker_rt, volume)
            difference = compare_since(archive.entries, copied)
            if difference:
                raise PodshiftError(f"the copy does not match {store.path.name}: {difference}")
            phase(VERIFIED)
            current = VERIFIED
        if current == VERIFIED:
            docker_rt.volume_remove(aside_name(volume), force=True)
            phase(FINISHED)
        what = "Podman's data" if source == "podman" else "the backup"
        return f"{volume}: {what} in place, verified ({len(archive.entries)} entries)"

    @staticmethod
    def _copy_from_podman(
        ctx: StepContext, podman_rt: PodmanRuntime, docker_rt: DockerRuntime, volume: str
    ) -> list[Entry]:
        """Podman's volume into Docker's one of the same name (emptied first), verified against the source.

        podshift.volumes.transfer picks the fastest path that keeps in-container
        owners (``cp -a`` between the directories for rootful Podman, ``podman
        unshare tar`` for a rootless user's volume) and compares both sides entry
        by entry, top directory included.  Returns the source's entries as read
        (each equal to the copy's).
        """
        result, verification = transfer_volume(
            VolumeRef(podman_rt, volume), VolumeRef(docker_rt, volume), progress=ctx.progress
        )
        ctx.log.info(
            "copied %s -> %s (%s): %d bytes in %.2f s", result.source, result.target, result.method, result.bytes,
            result.seconds,
        )  # fmt: skip
        return verification.source.entries
