"""permission-issues: apply sub-ids, repair sub-ids, newuidmap and containers.conf through podshift's
existing fixes (found by name through ``pytest_podshift_fixes``, journaled in the fixes journal so that
``podshift fixes revert`` undoes them), and start the user's API service when it does not answer.
"""

from __future__ import annotations

import json
from typing import ClassVar

from podshift.errors import EngineUnavailable, PodshiftError
from podshift.images import HELPER_IMAGE, ensure_helper_image
from podshift.recovery.engines import podman
from podshift.recovery.fixes import apply_fix
from podshift.recovery.permissions import (
    newuidmap_paths,
    newuidmap_problem,
    pause_process_problem,
    smoke_fix,
    uid_map_problem,
)
from podshift.remediation import CommandStep, Plan
from podshift.steps import Step, StepContext, StepFailed

SCENARIO = "permission-issues"
ROOTFUL = "rootful Podman: no user namespace, nothing to do"
RESTART = (
    "the user's API service still runs with the old settings: restart it "
    "(`podman system service` of the user) when nothing else uses it"
)


class _PermissionStep(Step):
    action = "recover"
    scenarios = (SCENARIO,)
    rootless_only: ClassVar[bool] = True

    def problem(self, ctx: StepContext) -> str | None:
        """What is wrong now (None: nothing)."""
        return None

    def done(self, ctx: StepContext) -> bool:
        skipped = self.rootless_only and not ctx.podman().rootless
        return super().done(ctx) and (skipped or self.problem(ctx) is None)


class _SystemMigrateStep(_PermissionStep):
    """A problem of the rootless user's Podman that ``podman system migrate`` (as the user) repairs."""

    notes: ClassVar[tuple[str, ...]] = ()

    def plan(self, ctx: StepContext) -> Plan:
        if not ctx.podman().rootless or self.problem(ctx) is None:
            return Plan(fix=self.name, scope="user", summary="nothing to do")
        cmd = CommandStep(("podman", "system", "migrate"), run_as=ctx.podman_user)
        return Plan(fix=self.name, scope="user", summary=self.title, commands=(cmd,), notes=self.notes)

    def system_migrate(self, ctx: StepContext, problem: str, hint: str) -> None:
        """Record *problem*, run ``podman system migrate``, and fail (with *hint*) unless the problem is gone."""
        ctx.record("before", problem)
        result = podman(ctx.podman(), "system", "migrate", timeout=300)
        if not result.succeeded:
            raise StepFailed(self.name, f"podman system migrate failed: {result.stderr.strip()[-300:]}")
        ctx.record("changed", True)
        after = self.problem(ctx)
        if after is not None:
            raise StepFailed(self.name, f"still: {after}", hint)


class PauseProcess(_SystemMigrateStep):
    name = "pause-process"
    title = "Check that the user's Podman finds its namespaces (podman info); reset them when they were killed"
    # First: while the pause process is lost, every other podman command of the user fails.
    order = 5
    notes = (
        "containers that ran when their processes were killed stay stopped (Podman 4.3 may leave them "
        "'stopping': `podshift recover failed-startup` removes the project's and starts it again)",
    )

    def problem(self, ctx: StepContext) -> str | None:
        result = podman(ctx.podman(), "info", "--format", "{{.Host.OCIRuntime.Name}}", timeout=60)
        return None if result.succeeded else pause_process_problem(result.stderr)

    def run(self, ctx: StepContext) -> str:
        if not ctx.podman().rootless:
            return ROOTFUL
        problem = self.problem(ctx)
        if problem is None:
            return "the user's Podman finds its namespaces: nothing to do"
        self.system_migrate(ctx, problem, "check the user's processes and $XDG_RUNTIME_DIR/libpod")
        stuck = _stopping(ctx)
        ctx.record("stopping", stuck)
        said = "ran `podman system migrate`: the user's Podman has a new pause process"
        if stuck:
            said += (
                f"; Podman left {', '.join(stuck)} 'stopping' (they cannot start again): "
                "`podshift recover failed-startup` removes a project's and starts it"
            )
        return said


def _stopping(ctx: StepContext) -> list[str]:
    """The user's containers in state "stopping" (left so by ``podman system migrate`` on Podman 4.3)."""
    listed = podman(ctx.podman(), "ps", "-a", "--format", "json", timeout=120)
    try:
        rows = json.loads(listed.stdout) if listed.succeeded else []
    except ValueError:
        return []
    return sorted(
        str((row.get("Names") or ["?"])[0])
        for row in rows if isinstance(row, dict) and str(row.get("State", "")).lower() == "stopping"
    )  # fmt: skip


class UserNamespace(_SystemMigrateStep):
    name = "user-namespace"
    title = "Check the user namespace mapping (podman unshare cat /proc/self/uid_map); apply the sub-ids"
    order = 20
    # The sub-ids first: `podman system migrate` maps only what /etc/subuid gives the user.
    after = ("sub-ids",)

    def problem(self, ctx: StepContext) -> str | None:
        result = podman(ctx.podman(), "unshare", "cat", "/proc/self/uid_map", timeout=60)
        if not result.succeeded:
            return f"podman unshare failed: {result.stderr.strip()[-300:]}"
        return uid_map_problem(result.stdout)

    def run(self, ctx: StepContext) -> str:
        if not ctx.podman().rootless:
            return ROOTFUL
        problem = self.problem(ctx)
        if problem is None:
            return "the user's sub-ids are mapped: nothing to do"
        if "one uid is mapped" not in problem:
            raise StepFailed(self.name, problem, "podshift recover permission-issues after fixing the above")
        self.system_migrate(ctx, problem, "check /etc/subuid and /etc/subgid for the user")
        return "ran `podman system migrate`: the sub-ids are mapped now"


class SubIds(_PermissionStep):
    name = "sub-ids"
    title = "Give the user sub-uid/gid ranges (the existing subuid-ranges fix; system scope)"
    order = 10
    after = ("pause-process",)

    def run(self, ctx: StepContext) -> str:
        if not ctx.podman().rootless:
            return ROOTFUL
        return apply_fix(ctx, "subuid-ranges")


class NewUidMap(_PermissionStep):
    name = "newuidmap"
    title = "Check that newuidmap/newgidmap may set up the namespace (setuid or file capabilities)"
    order = 30
    after = ("user-namespace",)

    def problem(self, ctx: StepContext) -> str | None:
        found = [p for p in (newuidmap_problem(path) for path in newuidmap_paths()) if p]
        return "; ".join(found) or None

    def run(self, ctx: StepContext) -> str:
        if not ctx.podman().rootless:
            return ROOTFUL
        problem = self.problem(ctx)
        if problem:
            # No podshift fix changes setuid bits on system binaries: the exact commands are given.
            raise StepFailed(self.name, problem, "run the commands above as root, then this again")
        return "newuidmap and newgidmap are privileged"


class ContainersConf(_PermissionStep):
    name = "containers-conf"
    title = "Start a container as the user; repair containers.conf through the existing fixes if it fails"
    order = 40
    # podshift's own image handling talks to the API: the service answers first.
    after = ("podman-service",)
    rootless_only = False

    def _smoke(self, ctx: StepContext) -> str:
        """'' when a container starts, else what Podman said."""
        ensure_helper_image(ctx.podman())
        args = ("run", "--rm", "--pull=never", "--network=none", HELPER_IMAGE, "true")
        result = podman(ctx.podman(), *args, timeout=300)
        return "" if result.succeeded else (result.stderr.strip() or f"exit {result.rc}")

    def problem(self, ctx: StepContext) -> str | None:
        return self._smoke(ctx) or None

    def run(self, ctx: StepContext) -> str:
        applied = []
        for _ in range(3):  # a host can need more than one fix (runtime, then ulimits)
            said = self._smoke(ctx)
            if not said:
                if applied and ctx.podman().rootless:
                    applied.append(RESTART)
                return "; ".join(applied) or "a container starts as the user: nothing to do"
            name = smoke_fix(said)
            if name is None or any(a.startswith(name) for a in applied):
                raise StepFailed(self.name, f'a container does not start; podman says: "{said[-300:]}"')
            applied.append(apply_fix(ctx, name))
        raise StepFailed(self.name, f"containers still do not start after {', '.join(applied)}")


class PodmanService(_PermissionStep):
    name = "podman-service"
    title = "Make the user's Podman API service answer (the existing start-podman-socket fix)"
    order = 35
    after = ("newuidmap",)
    rootless_only = False

    def problem(self, ctx: StepContext) -> str | None:
        try:
            ctx.podman().ping()
        except EngineUnavailable as e:
            return str(e)
        return None

    def run(self, ctx: StepContext) -> str:
        changed = any(ctx.journal.data(s).get("changed") for s in ("pause-process", "user-namespace", "sub-ids"))
        if self.problem(ctx) is None:
            if changed:
                # The running service keeps its old mapping; it is shared by whoever uses the
                # socket, so podshift says what to do instead of killing it.
                return f"the API service answers; {RESTART}"
            return "the API service answers: nothing to do"
        try:
            return apply_fix(ctx, "start-podman-socket")
        except PodshiftError as e:
            raise StepFailed(self.name, str(e)) from e
