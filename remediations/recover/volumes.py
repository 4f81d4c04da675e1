"""volume-issues: re-own bind-mount sources the container user cannot reach, restore missing or empty
volumes from the backup (verified against its manifest), restart the stack.

Original owners and modes are journaled before anything is re-owned.
"""

from __future__ import annotations

import os
from pathlib import Path

from podshift.backup.restore import restore_volume
from podshift.backup.store import BackupStore
from podshift.commands import run
from podshift.compose.provider import provider_for
from podshift.errors import PodshiftError
from podshift.recovery.volumes import MountProblem, host_ids, podman, probe_mounts, selinux_problems, volume_gaps
from podshift.remediation import CommandStep, Plan
from podshift.steps import Step, StepContext, StepFailed

SCENARIO = "volume-issues"


def compose_labels(project: str) -> dict[str, str]:
    return {"io.podman.compose.project": project, "com.docker.compose.project": project}


#: How many entries' original owners a journal keeps per source (beyond that, only the count).
MAX_RECORDED = 20000


def _commands(ctx: StepContext, p: MountProblem) -> list[tuple[str, ...]]:
    """The commands that give *p*'s source to the container user (inside the user namespace when rootless)."""
    runtime = ctx.podman()
    if runtime.rootless:
        # Container ids, applied inside the user's namespace: the kernel maps them (e.g. 999 -> 100998).
        return [
            ("podman", "unshare", "chown", "-R", p.user, str(p.source)),
            ("podman", "unshare", "chmod", "-R", "u+rwX", str(p.source)),
        ]
    uid, gid = host_ids(runtime, p.user)
    return [("chown", "-R", f"{uid}:{gid}", str(p.source)), ("chmod", "-R", "u+rwX", str(p.source))]


def _owners(source: Path) -> list[list[object]]:
    """[path, uid, gid, mode] of *source* and everything under it (symlinks not followed)."""
    found: list[list[object]] = []
    for root, dirs, files in os.walk(source):
        for name in [".", *dirs, *files]:
            path = os.path.join(root, name) if name != "." else root
            st = os.lstat(path)
            found.append([path, st.st_uid, st.st_gid, st.st_mode & 0o7777])
            if len(found) >= MAX_RECORDED:
                return found
    return found


class _VolumeStep(Step):
    action = "recover"
    scenarios = (SCENARIO,)

    def done(self, ctx: StepContext) -> bool:
        runtime = ctx.podman()
        return super().done(ctx) and not probe_mounts(runtime, ctx.project) and not volume_gaps(runtime, ctx.project)


class ReownBindSources(_VolumeStep):
    name = "reown-bind-sources"
    title = "Give bind-mount sources to the container user that cannot reach them (original owners journaled)"
    order = 10

    def plan(self, ctx: StepContext) -> Plan:
        problems = probe_mounts(ctx.podman(), ctx.project)
        run_as = ctx.podman_user if ctx.podman().rootless and os.geteuid() == 0 else None
        commands = tuple(CommandStep(c, run_as=run_as) for p in problems for c in _commands(ctx, p))
        notes = tuple(p.describe() for p in problems) + tuple(selinux_problems(ctx.project))
        return Plan(fix=self.name, scope="project", summary=self.title, commands=commands, notes=notes)

    def run(self, ctx: StepContext) -> str:
        runtime = ctx.podman()
        problems = probe_mounts(runtime, ctx.project)
        if not problems:
            return "every bind mount is usable by its container user: nothing to do"
        fixed = []
        for p in problems:
            if not runtime.rootless and not p.source.is_relative_to(ctx.project.project_dir):
                cmds = "; ".join(" ".join(c) for c in _commands(ctx, p))
                raise StepFailed(
                    self.name,
                    f"{p.describe()}; {p.source} is outside the project, so podshift does not re-own it",
                    f"if it is this project's data: {cmds}",
                )
            ctx.record("owners", {**ctx.recorded("owners", {}), str(p.source): _owners(p.source)})
            for argv in _commands(ctx, p):
                ctx.log.info("%s", " ".join(argv))
                result = podman(runtime, *argv[1:]) if argv[0] == "podman" else run(list(argv), timeout=600)
                if not result.succeeded:
                    raise StepFailed(self.name, f"`{' '.join(argv)}` failed: {result.stderr.strip()[-300:]}")
            fixed.append(f"{p.source} -> {p.user} (container ids)")
        left = probe_mounts(runtime, ctx.project)
        if left:
            raise StepFailed(self.name, "; ".join(p.describe() for p in left), "podshift diagnose")
        return f"re-owned {', '.join(fixed)}"


class RestoreVolumes(_VolumeStep):
    name = "restore-volumes"
    title = "Recreate missing or empty project volumes from the backup (verified), then restart the stack"
    order = 20
    after = ("reown-bind-sources",)

    def plan(self, ctx: StepContext) -> Plan:
        gaps = volume_gaps(ctx.podman(), ctx.project)
        notes = tuple(
            f"{g.describe()}: " + ("restore from the backup, verified" if g.in_backup else "stop") for g in gaps
        )
        return Plan(fix=self.name, scope="project", summary=self.title, notes=notes)

    def run(self, ctx: StepContext) -> str:
        runtime = ctx.podman()
        gaps = volume_gaps(runtime, ctx.project)
        if not gaps:
            return "every project volume is there: nothing to do"
        lost = [g for g in gaps if not g.in_backup]
        if lost:
            raise StepFailed(
                self.name,
                "; ".join(g.describe() for g in lost) + ": podshift cannot recreate its data",
                "restore it from your own copy, or take `podshift backup --include-data` next time",
            )
        store = BackupStore(ctx.project.project_dir)
        if store.verify():
            raise StepFailed(self.name, f"the backup at {store.path} does not verify", "podshift backup --verify")
        ctx.record("restored", [g.volume for g in gaps])
        provider = provider_for(ctx.project, runtime)
        try:
            provider.down()  # the volumes' users go (their data stays in the volumes)
            for g in gaps:
                if g.state == "empty":
                    runtime.volume_remove(g.volume)
                ctx.log.info("restoring %s from %s", g.volume, store.path)
                # The Compose labels podman-compose gives its volumes: it owns (and `down -v` removes) this one.
                restore_volume(store, g.volume, runtime, g.volume, labels=compose_labels(ctx.project.name))
            provider.up()
        except PodshiftError as e:
            raise StepFailed(self.name, f"restoring the volumes failed: {e}", "podshift diagnose") from e
        finally:
            provider.close()
        return f"restored {', '.join(g.volume for g in gaps)} from the backup (verified); stack restarted"
