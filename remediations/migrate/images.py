"""Step 4: the stack's images carried from Docker into the target Podman store (save/load, ids compared)."""

from __future__ import annotations

from podshift.errors import PodshiftError
from podshift.migration.images import ImageCarryError, carry_images, podman_has, service_images
from podshift.remediation import Plan
from podshift.steps import Step, StepContext, StepFailed

from .common import RERUN, docker, podman

#: The journal key the rollback's cleanup reads (a list of image references).
CARRIED_IMAGES = "images"


class Images(Step):
    name = "images"
    title = "Carry the stack's images from Docker into Podman (docker save | podman load), never pulling"
    action = "migrate"
    order = 40

    def plan(self, ctx: StepContext) -> Plan:
        planned = carry_images(ctx.docker(), ctx.podman(), ctx.project, dry_run=True)
        lines = tuple(f"{c.service}: {c.ref} ({c.image_id[:12]}) {c.how}" for c in planned)
        lacking = {i.service for i in service_images(ctx.project)} - {c.service for c in planned}
        lines += tuple(f"{s}: Docker lacks its image: build it with Podman" for s in sorted(lacking))
        return Plan(self.name, "project", self.title, notes=lines)

    def done(self, ctx: StepContext) -> bool:
        if not super().done(ctx):
            return False
        ids = ctx.recorded("image_ids", {}) or {}
        runtime = ctx.podman()
        return bool(ids) and all(podman_has(runtime, ref, image_id) for ref, image_id in ids.items())

    def run(self, ctx: StepContext) -> str | None:
        source, target = docker(ctx, self.name), podman(ctx, self.name)
        try:
            carried = carry_images(source, target, ctx.project, progress=ctx.progress)
        except ImageCarryError as e:
            raise StepFailed(self.name, str(e), "podshift recover failed-build") from e
        except PodshiftError as e:
            raise StepFailed(self.name, str(e), RERUN) from e
        ctx.record(CARRIED_IMAGES, sorted({c.ref for c in carried if c.how in ("loaded", "built")}))
        ctx.record("image_ids", {c.ref: c.image_id for c in carried})
        how = ", ".join(f"{c.service} {c.how}" for c in carried)
        return f"{len(carried)} images in {target.label}: {how}"
