"""Step 8: for a rootless target, bind-mounted data directories re-owned into the user's namespace."""

from __future__ import annotations

from pathlib import Path

from podshift.backup.configs import data_dirs
from podshift.migration.binds import IdMapError, apply_reown, id_maps, plan_reown
from podshift.remediation import Plan
from podshift.steps import Step, StepContext, StepFailed

from .common import RERUN

#: The journal key rollback reads: ``{path: [uid, gid]}`` before the change.
BIND_OWNERS = "bind_owners"


def _writable_data_dirs(ctx: StepContext) -> list[Path]:
    """Data directories some service mounts read-write (read-only ones stay as they are)."""
    rw = {
        Path(m.source) for s in ctx.project.services.values() for m in s.mounts if m.type == "bind" and not m.read_only
    }
    return [d for d in data_dirs(ctx.project) if d in rw]


class BindOwners(Step):
    name = "bind-owners"
    title = "Rootless target: re-own bind-mounted data into the user's namespace (original owners journaled)"
    action = "migrate"
    order = 80
    after = ("stop-docker", "compose-rewrite")

    def _changes(self, ctx: StepContext) -> tuple[list[Path], list]:  # type: ignore[type-arg]
        user = ctx.options.rootless_user
        if not user and not ctx.podman().rootless:
            return [], []
        roots = _writable_data_dirs(ctx)
        if not roots:
            return [], []
        uids, gids = id_maps(user or ctx.podman_user)
        return roots, plan_reown(roots, uids, gids)

    def plan(self, ctx: StepContext) -> Plan:
        if not ctx.options.rootless_user and not ctx.podman().rootless:
            return Plan(self.name, "project", "nothing to do for a rootful target")
        roots, changes = self._changes(ctx)
        notes = tuple(f"{c.path}: {c.uid}:{c.gid} -> {c.new_uid}:{c.new_gid} (host ids)" for c in changes[:50])
        if len(changes) > 50:
            notes += (f"... and {len(changes) - 50} more",)
        summary = f"re-own {len(changes)} entries under {', '.join(map(str, roots))}" if changes else "nothing to do"
        return Plan(self.name, "project", summary, notes=notes)

    def done(self, ctx: StepContext) -> bool:
        return super().done(ctx) and not self._changes(ctx)[1]

    def run(self, ctx: StepContext) -> str | None:
        try:
            roots, changes = self._changes(ctx)
        except IdMapError as e:
            raise StepFailed(self.name, str(e), RERUN) from e
        if not changes:
            return "nothing to re-own"
        owners = dict(ctx.recorded(BIND_OWNERS, {}) or {})
        for c in changes:
            owners.setdefault(c.path, [c.uid, c.gid])  # the first (original) owner wins on a re-run
        ctx.record(BIND_OWNERS, owners)
        try:
            count = apply_reown(roots, changes)
        except OSError as e:
            raise StepFailed(self.name, f"re-owning {e.filename}: {e.strerror}", RERUN) from e
        return f"re-owned {count} entries under {', '.join(map(str, roots))} (original owners in the journal)"
