"""Steps 5 and 9: stop the Docker stack (containers, volumes and images stay); start it under Podman."""

from __future__ import annotations

from podshift.errors import PodshiftError
from podshift.migration.leftovers import layer_changes
from podshift.migration.stack import docker_stack_stopped, start_podman_stack, stop_docker_stack
from podshift.remediation import CommandStep, Plan
from podshift.stack_health import service_problems
from podshift.steps import Step, StepContext, StepFailed

from .common import RERUN, docker, podman


class StopDocker(Step):
    name = "stop-docker"
    title = "Stop the Docker stack (never down -v: containers, volumes, images stay) and remove its networks"
    action = "migrate"
    order = 50
    after = ("images", "volumes-bulk-copy")

    def plan(self, ctx: StepContext) -> Plan:
        nets = ctx.docker().project_networks(ctx.project.name)
        return Plan(
            self.name,
            "project",
            self.title,
            commands=(
                CommandStep(("docker", "compose", "-p", ctx.project.name, "stop")),
                *(CommandStep(("docker", "network", "rm", n.name)) for n in nets),
            ),
            notes=("Docker keeps a stopped bridge's subnet: Podman would refuse the same subnet",),
        )

    def done(self, ctx: StepContext) -> bool:
        return super().done(ctx) and docker_stack_stopped(ctx.docker(), ctx.project)

    def run(self, ctx: StepContext) -> str | None:
        runtime = docker(ctx, self.name)
        stopped = [c.name for c in runtime.project_containers(ctx.project.name) if c.status == "running"]
        ctx.record("stopped_containers", sorted({*ctx.recorded("stopped_containers", []), *stopped}))
        nets = runtime.project_networks(ctx.project.name)
        # Journaled before they go: rollback recreates them through Compose.
        previous = {n["name"]: n for n in ctx.recorded("networks", [])}
        previous.update({n.name: {"name": n.name, "subnets": list(n.subnets), "labels": dict(n.labels)} for n in nets})
        ctx.record("networks", list(previous.values()))
        # What the containers wrote into their own layers stays behind with them: say so in the report.
        left = {**ctx.recorded("left_behind", {}), **layer_changes(runtime, ctx.project.name)}
        ctx.record("left_behind", left)
        try:
            stop_docker_stack(runtime, ctx.project)
        except PodshiftError as e:
            raise StepFailed(self.name, str(e), RERUN) from e
        said = f"stopped {len(stopped)} containers, removed {len(nets)} networks"
        for container, paths in sorted(left.items()):
            more = f" and {len(paths) - 8} more" if len(paths) > 8 else ""
            said += f"; left behind in {container}'s own layer (not in a volume): {', '.join(paths[:8])}{more}"
        return said


class StartPodman(Step):
    name = "start-podman"
    title = "Start the stack under Podman in dependency order and wait until every service is healthy"
    action = "migrate"
    order = 90
    after = ("volumes-final-sync", "compose-rewrite", "bind-owners")

    def plan(self, ctx: StepContext) -> Plan:
        return Plan(
            self.name,
            "project",
            f"podman-compose up (no build, no pull) for {ctx.podman().label}, services started in the order "
            f"{', '.join(ctx.project.start_order())}, healthchecks run until healthy",
        )

    def done(self, ctx: StepContext) -> bool:
        return super().done(ctx) and not service_problems(ctx.podman(), ctx.project, image_healthchecks=False)

    def run(self, ctx: StepContext) -> str | None:
        runtime = podman(ctx, self.name)
        project = ctx.project
        from .compose_rewrite import current_project

        project = current_project(ctx)
        try:
            start_podman_stack(runtime, project)
        except PodshiftError as e:
            raise StepFailed(self.name, str(e), "podshift recover failed-startup") from e
        problems = service_problems(runtime, project, image_healthchecks=False)
        if problems:
            raise StepFailed(
                self.name, f"not healthy under Podman: {'; '.join(problems)}", "podshift recover failed-startup"
            )
        return f"{len(project.services)} services running and healthy under {runtime.label}"
