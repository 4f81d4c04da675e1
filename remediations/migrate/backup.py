"""Step 2: a fresh verified backup with data (or, with --use-backup, the existing one, which must verify)."""

from __future__ import annotations

from podshift.backup.store import BackupError, BackupStore, verify_dir
from podshift.remediation import Plan, VolumeMove
from podshift.steps import Step, StepContext, StepFailed

from .common import RERUN, docker


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
        try:
            manifest = store.create(ctx.project, runtime, include_data=True, force=True, progress=ctx.progress)
        except BackupError as e:
            raise StepFailed(self.name, str(e), RERUN) from e
        ctx.record("created", manifest.created)
        size = sum(a.size for a in manifest.archives)
        return f"backup at {store.path}: {len(manifest.config)} files, {len(manifest.archives)} archives, {size} bytes"
