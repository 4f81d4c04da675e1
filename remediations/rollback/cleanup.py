"""Step 7 (--cleanup): the Podman side removed, only once the rollback is proven and the snapshot holds its data."""

from __future__ import annotations

from podshift.backup.store import BackupStore
from podshift.remediation import CommandStep, Plan
from podshift.rollback import verify
from podshift.rollback.podman_side import find_project, take_down
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


#: The migration's step that creates the Podman volumes, and its journal key for them (names, journaled first).
VOLUMES_STEP, CREATED_VOLUMES = "volumes-bulk-copy", "created"


def _created_volumes(ctx: StepContext) -> list[str]:
    """Volumes the migration's journal says it created on Podman (found by label too; this catches any without)."""
    recorded = StepJournal.open(ctx.project.project_dir, "migrate").data(VOLUMES_STEP).get(CREATED_VOLUMES)
    return sorted(str(v) for v in recorded) if isinstance(recorded, list) else []


def _listed(what: str, names: list[str]) -> str:
    return f"{what}: {', '.join(names)}" if names else f"{what}: none"


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
        volumes = sorted({*ctx.project.named_volumes, *_created_volumes(ctx)})
        commands = [CommandStep(("podman", "volume", "rm", v), run_as=user) for v in volumes]
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
        # What podshift's migrate made on Podman: the stack podman-compose ran (containers, pods, networks:
        # step 1 took them down; anything that came back since goes too), the volumes, the carried images.
        # Bind-mount owners went back in step 4, the compose files in step 3; host changes (containers.conf,
        # subids, the socket) are the fixes journal's: `podshift fixes revert`.
        stack = take_down(podman_rt, project.name)
        volumes = {v.name for v in find_project(podman_rt, project.name).volumes}
        volumes |= {v for v in _created_volumes(ctx) if podman_rt.volume(v) is not None}
        removed, volumes_kept = [], []
        for volume in sorted(volumes):
            if snapshot.archive_of(volume) is None:
                ctx.log.warning("keeping %s: the snapshot does not hold it", volume)
                volumes_kept.append(volume)
                continue
            podman_rt.volume_remove(volume, force=True)
            removed.append(volume)
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
        others = [c.name for c in stack.containers] + [p.name for p in stack.pods] + [n.name for n in stack.networks]
        ctx.record("volumes_removed", removed)
        ctx.record("volumes_kept", volumes_kept)
        ctx.record("images_removed", images)
        ctx.record("images_kept", kept)
        ctx.record("stack_removed", others)
        for line in (
            _listed("volumes", removed),
            _listed("images", images),
            _listed("containers, pods, networks", others),
        ):
            ctx.log.info("cleanup removed from %s: %s", podman_rt.label, line)
        notes = [f"kept images still in use: {', '.join(kept)}"] if kept else []
        notes += [f"kept volumes the snapshot lacks: {', '.join(volumes_kept)}"] if volumes_kept else []
        listed = "; ".join(
            [_listed("volumes", removed), _listed("images", images)] + ([_listed("stack", others)] if others else [])
        )
        return f"removed from {podman_rt.label}: {listed}" + "".join(f"; {n}" for n in notes)
