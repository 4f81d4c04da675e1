"""failed-startup: stop the stack, clear what blocks it, start it in dependency order with healthchecks driven.

What blocks it and is not this project's (a foreign process on a published
port, a container of someone else holding one of the stack's names) is
named and left alone: the scenario stops before changing anything, so the
stack is no worse.
"""

from __future__ import annotations

import os
import signal

from podshift.compose.provider import provider_for
from podshift.errors import PodshiftError
from podshift.recovery.engines import compose_argv
from podshift.recovery.fixes import apply_fix, plan_fix
from podshift.recovery.startup import (
    leftover_monitors,
    log_tail,
    name_holders,
    port_refusal,
    port_uses,
    privileged_ports,
    project_containers,
    unhealthy_services,
    unprivileged_port_start,
)
from podshift.remediation import CommandStep, Plan
from podshift.runtimes.base import SERVICE_LABEL
from podshift.steps import Step, StepContext, StepFailed

SCENARIO = "failed-startup"
HEALTHY = "every service runs and is healthy: nothing to do"
#: How long the stack may take to become healthy.
START_TIMEOUT = 180


def _healthy(ctx: StepContext) -> bool:
    return not unhealthy_services(ctx.podman(), ctx.project)


class _StartupStep(Step):
    action = "recover"
    scenarios = (SCENARIO,)

    def done(self, ctx: StepContext) -> bool:
        return super().done(ctx) and _healthy(ctx)


class FindBlockers(_StartupStep):
    name = "find-blockers"
    title = "Name what holds the stack's ports and container names; end leftovers of its own dead containers"
    order = 10

    def plan(self, ctx: StepContext) -> Plan:
        uses = port_uses(ctx.podman(), ctx.project)
        kills = tuple(CommandStep(("kill", str(u.holder.pid))) for u in uses if u.kind == "leftover")
        kills += tuple(CommandStep(("kill", str(m.pid))) for m in leftover_monitors(ctx.podman(), ctx.project))
        notes = tuple(f"would stop here: {u.describe()}" for u in uses if u.kind in ("foreign", "docker"))
        notes += tuple(
            f"would stop here: container {c.name} ({c.state}, {c.image}) holds a name of this stack"
            for c in name_holders(ctx.podman(), ctx.project)
            if not c.belongs_to(ctx.project.name)
        )
        return Plan(fix=self.name, scope="project", summary=self.title, commands=kills, notes=notes)

    def run(self, ctx: StepContext) -> str:
        runtime = ctx.podman()
        if _healthy(ctx):
            return HEALTHY
        uses = port_uses(runtime, ctx.project)
        blocking = [u.describe() for u in uses if u.kind in ("foreign", "docker")]
        blocking += [
            f"container {c.name} ({c.state}, image {c.image}) is not this project's but holds its name: podman says "
            f'"the container name {c.name} is already in use"'
            for c in name_holders(runtime, ctx.project)
            if not c.belongs_to(ctx.project.name)
        ]
        if blocking:
            docker = any(u.kind == "docker" for u in uses)
            hint = (
                f"`docker compose -p {ctx.project.name} stop` (the Docker side still runs), then this again"
                if docker
                else "stop or move what is named above (podshift leaves what is not ours alone), then this again"
            )
            raise StepFailed(self.name, "; ".join(blocking), hint)
        ended = []
        leftovers = [
            (u.holder.pid, u.holder.command, u.describe(), f"{u.holder.program} of {u.container}")
            for u in uses
            if u.kind == "leftover" and u.holder.pid is not None
        ]
        seen = {pid for pid, *_ in leftovers}
        leftovers += [
            (m.pid, m.command, m.describe(), f"conmon of {m.container}")
            for m in leftover_monitors(runtime, ctx.project)
            if m.pid not in seen
        ]
        for pid, command, described, what in leftovers:
            if pid is None:
                continue
            ctx.record("ended", [*ctx.recorded("ended", []), {"pid": pid, "command": command}])
            ctx.log.info("ending %s", described)
            try:
                os.kill(pid, signal.SIGTERM)
                # A hung (stopped) conmon acts on SIGTERM only once continued.
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                continue
            ended.append(f"PID {pid} ({what})")
        return f"nothing foreign holds the stack's ports or names; ended {', '.join(ended) or 'no leftover'}"


#: The existing fix that lowers net.ipv4.ip_unprivileged_port_start (system scope, journaled, revertible).
PORT_FIX = "unprivileged-port-start"


class PrivilegedPorts(_StartupStep):
    name = "privileged-ports"
    title = "Let rootless Podman publish the stack's ports below 1024 (the existing unprivileged-port-start fix)"
    order = 15
    after = ("find-blockers",)

    def plan(self, ctx: StepContext) -> Plan:
        if not privileged_ports(ctx.podman(), ctx.project):
            return Plan(fix=self.name, scope="project", summary="no privileged port: nothing to do")
        return plan_fix(ctx, PORT_FIX)

    def run(self, ctx: StepContext) -> str:
        runtime = ctx.podman()
        if _healthy(ctx):
            return HEALTHY
        start = unprivileged_port_start()
        low = privileged_ports(runtime, ctx.project, start)
        if not low:
            return "no published port is privileged for the target Podman: nothing to do"
        port = min(low)
        said = port_refusal(runtime, port)
        if not said:
            return f"port {port} is below {start} but Podman may publish it: nothing to do"
        cause = (
            f"service {low[port]} publishes port {port}, below net.ipv4.ip_unprivileged_port_start ({start}): "
            f'rootless Podman may not bind it; podman says: "{said}"'
        )
        ctx.record("cause", cause)
        ctx.log.info("%s", cause)
        try:
            applied = apply_fix(ctx, PORT_FIX)
        except StepFailed as e:
            alternative = f"or publish service {low[port]} on a port >= {start} in the compose file"
            raise StepFailed(self.name, f"{cause}; {e.reason}", alternative) from e
        return f"{cause}; {applied}"


class StopServices(_StartupStep):
    name = "stop-services"
    title = "Stop every running container of the project"
    order = 20
    after = ("privileged-ports",)

    def plan(self, ctx: StepContext) -> Plan:
        running = [c.name for c in ctx.podman().project_containers(ctx.project.name) if c.status == "running"]
        return Plan(
            fix=self.name,
            scope="project",
            summary=self.title,
            commands=tuple(CommandStep(("podman", "stop", n)) for n in running),
        )

    def run(self, ctx: StepContext) -> str:
        runtime = ctx.podman()
        if _healthy(ctx):
            return HEALTHY
        running = [c.name for c in runtime.project_containers(ctx.project.name) if c.status == "running"]
        ctx.record("stopped", running)
        for name in running:
            ctx.log.info("stopping %s", name)
            runtime.stop(name)
        return f"stopped {', '.join(running) or 'nothing (none was running)'}"


class RemoveLeftovers(_StartupStep):
    name = "remove-leftovers"
    title = "Remove the project's stopped containers, whose names would block new ones (volumes are kept)"
    order = 30
    after = ("stop-services",)

    def plan(self, ctx: StepContext) -> Plan:
        names = [c.name for c in project_containers(ctx.podman(), ctx.project)]  # the stopped step runs first
        return Plan(
            fix=self.name,
            scope="project",
            summary=self.title,
            commands=tuple(CommandStep(("podman", "rm", n)) for n in names),
        )

    def run(self, ctx: StepContext) -> str:
        runtime = ctx.podman()
        if _healthy(ctx):
            return HEALTHY
        # Dependants first: podman-compose creates containers with --requires, and Podman refuses to
        # remove a container that others depend on ("has dependent containers which must be removed").
        rank = {name: i for i, name in enumerate(ctx.project.start_order())}
        leftovers = sorted(
            (c for c in project_containers(runtime, ctx.project) if c.state != "running"),
            key=lambda c: -rank.get(c.labels.get(SERVICE_LABEL, ""), len(rank)),
        )
        ctx.record("removed", [{"name": c.name, "image": c.image, "state": c.state} for c in leftovers])
        for c in leftovers:
            ctx.log.info("removing %s (%s, %s)", c.name, c.state, c.image)
            runtime.remove_container(c.name)
        return f"removed {', '.join(c.name for c in leftovers) or 'nothing'}"


class StartServices(_StartupStep):
    name = "start-services"
    title = "Create and start the services in dependency order, driving their healthchecks"
    order = 40
    after = ("remove-leftovers",)

    def plan(self, ctx: StepContext) -> Plan:
        argv = compose_argv(ctx.project, ctx.podman())
        order = " -> ".join(ctx.project.start_order())
        return Plan(
            fix=self.name,
            scope="project",
            summary=self.title,
            commands=(CommandStep((*argv, "up", "-d", "--no-start")),),
            notes=(f"then start in this order, each once its dependencies are healthy: {order}",),
        )

    def run(self, ctx: StepContext) -> str:
        runtime = ctx.podman()
        if _healthy(ctx):
            return HEALTHY
        provider = provider_for(ctx.project, runtime)
        try:
            provider.up(timeout=START_TIMEOUT)
        except PodshiftError as e:
            wrong = unhealthy_services(runtime, ctx.project, drive=False)
            if not wrong:
                raise StepFailed(self.name, f"the stack did not start: {e}", "podshift diagnose") from e
            service, state = next(iter(wrong.items()))
            containers = [c.name for c in runtime.project_containers(ctx.project.name) if c.service == service]
            tail = log_tail(runtime, containers[0]) if containers else str(e)
            raise StepFailed(
                self.name,
                f"service {service} did not become healthy ({state}); its last log lines:\n{tail}",
                f"fix service {service}, then `podshift recover {SCENARIO}` again",
            ) from e
        finally:
            provider.close()
        wrong = unhealthy_services(runtime, ctx.project)
        if wrong:
            raise StepFailed(self.name, f"started, but not healthy: {wrong}", "podshift diagnose")
        return f"started {', '.join(ctx.project.start_order())}: every service healthy"
