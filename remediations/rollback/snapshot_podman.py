"""Step 2: every project volume on Podman snapshotted, with a manifest, before anything else is touched."""

from __future__ import annotations

import time

from podshift.errors import EngineUnavailable, PodshiftError
from podshift.remediation import Plan, VolumeMove
from podshift.rollback.snapshot import PodmanSnapshot
from podshift.steps import DONE, Step, StepContext, StepFailed

from .common import RERUN, podman


class SnapshotPodman(Step):
    name = "snapshot-podman"
    title = "Snapshot the Podman side (volumes, configuration, bind data) into .docker-backup/podman-snapshot/"
    action = "rollback"
    order = 20
    after = ("stop-podman",)

    def plan(self, ctx: StepContext) -> Plan:
        snapshot = PodmanSnapshot(ctx.project.project_dir)
        runtime = ctx.podman()
        moves: list[VolumeMove] = []
        try:
            runtime.ping()
            sizes = runtime.volume_sizes()
            for name in ctx.project.named_volumes:
                if runtime.volume(name) is not None:
                    moves.append(VolumeMove(name, sizes.get(name, 0), f"{runtime.label}:{name}", str(snapshot.path)))
        except EngineUnavailable as e:
            return Plan(self.name, "project", self.title, notes=(f"Podman does not answer: {e}",))
        return Plan(self.name, "project", self.title, volumes=tuple(moves))

    def _ours(self, ctx: StepContext, snapshot: PodmanSnapshot) -> bool:
        """Whether the snapshot in place is the one this rollback took (and it still verifies)."""
        began = ctx.recorded("began")
        if not isinstance(began, int | float) or not snapshot.exists():
            return False
        try:
            return snapshot.manifest().created >= began and not snapshot.verify()
        except PodshiftError:
            return False

    def done(self, ctx: StepContext) -> bool:
        return ctx.journal.state(self.name) == DONE and self._ours(ctx, PodmanSnapshot(ctx.project.project_dir))

    def run(self, ctx: StepContext) -> str:
        snapshot = PodmanSnapshot(ctx.project.project_dir)
        if ctx.recorded("began") is None:
            ctx.record("began", time.time())
        elif self._ours(ctx, snapshot):
            # Taken by this rollback before an interruption: never taken twice.
            return f"already taken by this rollback: {snapshot.path}"
        runtime = podman(ctx, self.name)
        try:
            # Podman need not hold every volume the model declares (a stack never started there).
            manifest = snapshot.create(
                ctx.project, runtime, include_data=True, force=True, progress=ctx.progress, allow_fewer_volumes=True
            )
        except PodshiftError as e:
            raise StepFailed(self.name, f"could not snapshot the Podman side: {e}", RERUN) from e
        volumes = {a.name: a.sha256 for a in manifest.archives if a.kind == "volume"}
        ctx.record("created", manifest.created)
        ctx.record("volumes", volumes)
        size = sum(a.size for a in manifest.archives)
        return f"{len(volumes)} volume(s), {size / 2**20:.1f} MiB, verified: {snapshot.path}"
