"""Step 7 (--cleanup): the Podman side removed, only once the rollback is proven and the snapshot holds its data."""

from __future__ import annotations

from podshift.backup.store import BackupStore
from podshift.remediation import CommandStep, Plan
from podshift.rollback import verify
from podshift.rollback.podman_side import find_project
from podshift.rollback.snapshot import PodmanSnapshot
from podshift.stack_health import endpoint_problems, service_problems
from podshift.steps import Step, StepContext, StepFailed, StepJournal

from .common import current_project, docker, podman

#: The migration's journal key for images it carried over to Podman (``{"images": [ref, ...]}``).
CARRIED_IMAGES = "images"


def _carried_images(ctx: StepContext) -> list[str]:
    """Images the migration carried to Podman: from its journal, else the project's images Docker also has."""
    journal = StepJournal.open(ctx.project.project_dir, "migrate")
    refs: list[str] = []
    for step in journal.steps():
        recorded = journal.data(step).get(CARRIED_IMAGES)
        if isinstance(recorded, list):
            refs += [str(r) for r in recorded]
    if refs:
        return sorted(set(refs))
    return sorted({s.image for s in ctx.project.services.values() if s.image})


class Cleanup(Step):
    name = "cleanup"
    title = "With --cleanup, once the rollback is verified: remove the project's Podman volumes and carried images"
    action = "rollback"
    order = 70
    after = ("start-docker",)

    def plan(self, ctx: StepContext) -> Plan:
        if not ctx.options.cleanup:
            return Plan(self.name, "project", self.title, notes=("not asked (--cleanup): nothing is deleted",))
        user = ctx.options.rootless_user
        commands = [CommandStep(("podman", "volume", "rm", v), run_as=user) for v in ctx.project.named_volumes]
        commands += [CommandStep(("podman", "rmi", ref), run_as=user) for ref in _carried_images(ctx)]
        return Plan(self.name, "project", self.title, commands=tuple(commands),
                    notes=("only after every post-rollback verification passes",))  # fmt: skip

    def run(self, ctx: StepContext) -> str:
        if not ctx.options.cleanup:
            return "not asked (--cleanup): nothing on the Podman side was deleted"
        project = current_project(ctx)
        docker_rt, podman_rt = docker(ctx, self.name), podman(ctx, self.name)
        record = verify.RollbackRecord.read(project.project_dir)
        problems = (
            service_problems(docker_rt, project)
            + endpoint_problems(project)
            + verify.config_problems(BackupStore(project.project_dir))
            + verify.volume_problems(docker_rt, project, record)
            + verify.podman_problems(podman_rt, project)
            + verify.port_problems(docker_rt, project)
        )
        if problems:
            raise StepFailed(
                self.name,
                f"refusing to delete anything on Podman: the rollback is not verified ({'; '.join(problems[:5])})",
                "podshift rollback (without --cleanup), then look at the post_rollback checks",
            )
        snapshot = PodmanSnapshot(project.project_dir)
        if snapshot.verify():
            raise StepFailed(self.name, f"refusing: the snapshot {snapshot.path} does not verify", "keep the volumes")
        removed = []
        for volume in find_project(podman_rt, project.name).volumes:
            if snapshot.archive_of(volume.name) is None:
                ctx.log.warning("keeping %s: the snapshot does not hold it", volume.name)
                continue
            podman_rt.volume_remove(volume.name, force=True)
            removed.append(volume.name)
        images, kept = [], []
        for ref in _carried_images(ctx):
            # Only what Docker still has: nothing is lost by removing Podman's copy.  Never forced:
            # an image (id) in use by any container, whoever's, stays; another name of it stays.
            if podman_rt.image(ref) is not None and docker_rt.image(ref) is not None:
                why = podman_rt.image_release(ref)
                if why is None:
                    images.append(ref)
                else:
                    kept.append(ref)
                    ctx.log.info("kept image %s on %s: %s", ref, podman_rt.label, why)
        ctx.record("volumes_removed", removed)
        ctx.record("images_removed", images)
        ctx.record("images_kept", kept)
        note = f"; kept {len(kept)} image(s) still in use" if kept else ""
        return f"removed from {podman_rt.label}: {len(removed)} volume(s), {len(images)} image(s){note}"
