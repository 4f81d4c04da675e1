"""Step 2: a fresh verified backup with data (or, with --use-backup, the existing one, which must verify)."""

from __future__ import annotations

import os

from podshift.backup.store import BackupError, BackupStore, verify_dir
from podshift.remediation import Plan, VolumeMove
from podshift.runtimes.docker import DockerRuntime
from podshift.steps import Step, StepContext, StepFailed

from .common import RERUN, docker

#: Room kept beyond the estimate: manifests, tar headers and padding, what a volume gains while it is read.
MARGIN_FRACTION = 0.05
MARGIN_MIN = 1 << 20


def space_needed(estimate: int) -> int:
    """Bytes the backup directory's filesystem must have free for a backup estimated at *estimate* bytes."""
    return estimate + max(int(estimate * MARGIN_FRACTION), MARGIN_MIN)


def free_bytes(path: os.PathLike[str] | str) -> int:
    """Bytes an unprivileged writer may still use on the filesystem of *path* (root's reserve not counted)."""
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


class Backup(Step):
    name = "backup"
    title = "Take a verified backup of the project with its data (or verify the one --use-backup names)"
    action = "migrate"
    order = 20

    def plan(self, ctx: StepContext) -> Plan:
        store = BackupStore(ctx.project.project_dir)
        if ctx.options.use_backup:
            return Plan(self.name, "project", f"verify the existing backup at {store.path} (--use-backup)")
        sizes = ctx.docker().volume_sizes()
        return Plan(
            self.name,
            "project",
            f"back up the configuration and data to {store.path} (replacing any backup there once the new one "
            "verifies); services using a volume stop while it is read",
            volumes=tuple(
                VolumeMove(v, sizes.get(v, 0), f"docker:{v}", f"{store.path}/volumes/{v}.tar")
                for v in ctx.project.named_volumes
            ),
        )

    def done(self, ctx: StepContext) -> bool:
        return super().done(ctx) and BackupStore(ctx.project.project_dir).exists()

    def run(self, ctx: StepContext) -> str | None:
        store = BackupStore(ctx.project.project_dir)
        if ctx.options.use_backup:
            if not store.exists():
                raise StepFailed(self.name, f"--use-backup: there is no backup at {store.path}", "podshift backup")
            problems = verify_dir(store.path)
            if problems:
                raise StepFailed(
                    self.name,
                    f"--use-backup: the backup at {store.path} does not verify: {'; '.join(problems[:5])}",
                    "take a new one: run without --use-backup",
                )
            manifest = store.manifest()
            if not manifest.include_data:
                raise StepFailed(
                    self.name, "--use-backup: that backup holds no volume data", "run without --use-backup"
                )
            ctx.record("created", manifest.created)
            return f"using the verified backup at {store.path}"
        runtime = docker(ctx, self.name)
        self._check_space(ctx, store, runtime)
        try:
            manifest = store.create(ctx.project, runtime, include_data=True, force=True, progress=ctx.progress)
        except BackupError as e:
            raise StepFailed(self.name, str(e), RERUN) from e
        ctx.record("created", manifest.created)
        size = sum(a.size for a in manifest.archives)
        return f"backup at {store.path}: {len(manifest.config)} files, {len(manifest.archives)} archives, {size} bytes"

    def _check_space(self, ctx: StepContext, store: BackupStore, runtime: DockerRuntime) -> None:
        """Refuse, before any service is stopped for reading, a backup that cannot fit where it goes.

        The estimate is what the backup would hold: configuration files, each
        volume's size as Docker reports it, bind-mounted data directories. The
        new backup is written beside the old one (which stays until the new one
        verifies), so the old one's size does not count as free.  A write that
        still runs out of space (the estimate is one) fails with ENOSPC and the
        partial backup is removed (``BackupStore.create``).
        """
        items = store.plan(ctx.project, runtime, include_data=True)
        estimate = sum(i.size for i in items)
        need = space_needed(estimate)
        free = free_bytes(store.base)
        ctx.record("space", {"estimate": estimate, "needed": need, "free": free})
        if free < need:
            parts = {kind: sum(i.size for i in items if i.kind == kind) for kind in ("config", "volume", "bind")}
            raise StepFailed(
                self.name,
                f"no space for the backup: it needs {need} bytes (configuration {parts['config']}, volumes "
                f"{parts['volume']}, bind data {parts['bind']}, plus margin) and the filesystem of {store.base} "
                f"has {free} bytes free; nothing was stopped or written",
                f"free at least {need - free} bytes there, then run `podshift migrate` again",
            )
