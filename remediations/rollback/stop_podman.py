"""Step 1: the project's Podman containers, pods and networks stopped and removed; volumes kept."""

from __future__ import annotations

from podshift.errors import EngineUnavailable
from podshift.remediation import CommandStep, Plan
from podshift.rollback.podman_side import find_project, take_down
from podshift.steps import DONE, Step, StepContext

from .common import podman, verified_backup


class StopPodman(Step):
    name = "stop-podman"
    title = "Stop the project's Podman containers and pods, remove its networks; keep its volumes"
    action = "rollback"
    order = 10

    def plan(self, ctx: StepContext) -> Plan:
        runtime = ctx.podman()
        try:
            runtime.ping()
        except EngineUnavailable as e:
            return Plan(self.name, "project", self.title, notes=(f"Podman cannot be asked what runs: {e}",))
        found = find_project(runtime, ctx.project.name)
        commands = [CommandStep(("podman", "stop", c.name), run_as=ctx.options.rootless_user) for c in found.running]
        commands += [CommandStep(("podman", "rm", "-f", c.name), run_as=ctx.options.rootless_user)
                     for c in found.containers]  # fmt: skip
        commands += [CommandStep(("podman", "pod", "rm", "-f", p.name), run_as=ctx.options.rootless_user)
                     for p in found.pods]  # fmt: skip
        commands += [CommandStep(("podman", "network", "rm", n.name), run_as=ctx.options.rootless_user)
                     for n in found.networks]  # fmt: skip
        return Plan(
            self.name, "project", self.title, commands=tuple(commands),
            notes=(f"on {runtime.label}: {found.describe()}",),
        )  # fmt: skip

    def done(self, ctx: StepContext) -> bool:
        if ctx.journal.state(self.name) != DONE:
            return False
        runtime = ctx.podman()
        try:
            runtime.ping()
        except EngineUnavailable:
            return True  # nothing of Podman's can be running that we could stop
        return find_project(runtime, ctx.project.name).empty

    def starts_new_cycle(self, ctx: StepContext) -> bool:
        # A finished rollback, and the project runs on Podman again (moved there by hand: a
        # `podshift migrate` archives the rollback journal itself): a new cycle, every step afresh.
        runtime = ctx.podman()
        try:
            runtime.ping()
        except EngineUnavailable:
            return False
        return not find_project(runtime, ctx.project.name).empty

    def run(self, ctx: StepContext) -> str:
        # Nothing is touched without a backup to come back to.
        verified_backup(ctx, self.name)
        runtime = podman(ctx, self.name)
        found = take_down(runtime, ctx.project.name)
        ctx.record("containers", [c.name for c in found.containers])
        ctx.record("pods", [p.name for p in found.pods])
        ctx.record("networks", [n.name for n in found.networks])
        ctx.record("volumes", [v.name for v in found.volumes])
        if found.empty:
            return f"nothing of {ctx.project.name} ran on {runtime.label}; {len(found.volumes)} volume(s) there"
        return f"{runtime.label}: removed {found.describe()}"
