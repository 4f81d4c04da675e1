"""Step 3: the Docker configuration back from the verified backup, byte-identical with modes and mtimes."""

from __future__ import annotations

from pathlib import Path

from podshift.backup.restore import restore_config
from podshift.backup.store import BackupStore
from podshift.errors import PodshiftError
from podshift.remediation import Plan
from podshift.rollback.verify import config_problems
from podshift.steps import DONE, Step, StepContext, StepFailed

from .common import RERUN, verified_backup


class RestoreDockerConfig(Step):
    name = "restore-docker-config"
    title = "Restore the Docker configuration from the verified backup (byte-identical, modes, mtimes)"
    action = "rollback"
    order = 30
    after = ("snapshot-podman",)

    def plan(self, ctx: StepContext) -> Plan:
        store = BackupStore(ctx.project.project_dir)
        if not store.exists():
            missing = f"Backup directory not found: {store.path}; create one with `podshift backup`"
            return Plan(self.name, "project", self.title, notes=(missing,))
        differing = config_problems(store)
        notes = tuple(differing) or ("every file already matches the backup",)
        return Plan(self.name, "project", self.title, notes=notes, touches=tuple(
            Path(p.split(":")[0].removeprefix("missing ")) for p in differing))  # fmt: skip

    def done(self, ctx: StepContext) -> bool:
        store = BackupStore(ctx.project.project_dir)
        return ctx.journal.state(self.name) == DONE and store.exists() and not config_problems(store)

    def run(self, ctx: StepContext) -> str:
        store = verified_backup(ctx, self.name)
        before = config_problems(store)
        try:
            restored = restore_config(store, ctx.project, trust_backup=ctx.options.trust_backup)
        except (OSError, PodshiftError) as e:
            raise StepFailed(self.name, f"could not restore the configuration: {e}", RERUN) from e
        left = config_problems(store)
        if left:
            raise StepFailed(self.name, f"restored, but still differs: {'; '.join(left[:5])}", RERUN)
        ctx.record("restored", [str(p) for p in restored])
        return f"{len(restored)} file(s) restored byte-identical ({len(before)} differed)"
