"""Step 5: the stack up under Docker (building only what Docker lacks), healthy in dependency order."""

from __future__ import annotations

import time

from podshift.compose.model import ComposeProject
from podshift.compose.provider import DockerComposeProvider
from podshift.errors import CommandError, EngineUnavailable, PodshiftError
from podshift.firewall import host_blocking_rules
from podshift.ports import docker_published, holders
from podshift.remediation import CommandStep, Plan
from podshift.runtimes.docker import DockerRuntime
from podshift.stack_health import service_problems
from podshift.steps import DONE, Step, StepContext, StepFailed

from .common import RERUN, current_project, docker

WAIT_TIMEOUT = 180


def _missing_images(project: ComposeProject, runtime: DockerRuntime) -> list[str]:
    """Services with a build section whose image Docker does not have."""
    return [
        name
        for name, s in sorted(project.services.items())
        if s.build_context is not None and (not s.image or runtime.image(s.image) is None)
    ]


def _port_conflicts(project: ComposeProject, runtime: DockerRuntime) -> list[str]:
    """Published ports held by something other than this project's Docker containers, naming the process."""
    ours = docker_published(runtime, project.name)
    conflicts = []
    for service, p in project.published_ports:
        if p.published is None or p.protocol != "tcp" or p.published in ours:
            continue
        held = holders(p.published)
        if not held:
            continue
        who = ", ".join(h.who() for h in held)
        if any(h.is_podman for h in held):
            conflicts.append(
                f"port {p.published} ({service}) is held by a leftover Podman process: {who}; "
                f"stop it (`kill {' '.join(str(h.pid) for h in held if h.is_podman)}`) and run the rollback again"
            )
        else:
            conflicts.append(f"port {p.published} ({service}) is held by {who}; stop it or remap the port")
    return conflicts


def _firewall_blocks(project: ComposeProject) -> list[str]:
    """iptables rules (Podman's leftovers, DROP/REJECT) on the project's ports, each with its removal.

    Reported, never changed: the host's firewall is the admin's.
    """
    ports = {p.published for _, p in project.published_ports if p.published is not None and p.protocol == "tcp"}
    return [
        b.describe() + "; podshift does not change the firewall: remove it, then run the rollback again"
        for b in host_blocking_rules(ports)
    ]


class StartDocker(Step):
    name = "start-docker"
    title = "Start the stack under Docker (build only images Docker lacks) and wait until it is healthy"
    action = "rollback"
    order = 50
    after = ("migrate-data",)

    def plan(self, ctx: StepContext) -> Plan:
        project = ctx.project
        try:
            runtime = ctx.docker()
            runtime.ping()
            builds = _missing_images(project, runtime)
        except EngineUnavailable as e:
            return Plan(self.name, "project", self.title, notes=(f"Docker does not answer: {e}",))
        provider = DockerComposeProvider(project, runtime)
        commands = [CommandStep((*provider.base_argv(), "build", name)) for name in builds]
        commands.append(CommandStep((*provider.base_argv(), "up", "-d", "--no-build", "--wait")))
        return Plan(self.name, "project", self.title, commands=tuple(commands))

    def done(self, ctx: StepContext) -> bool:
        if ctx.journal.state(self.name) != DONE:
            return False
        try:
            runtime = ctx.docker()
            runtime.ping()
            return not service_problems(runtime, current_project(ctx))
        except PodshiftError:
            return False

    def run(self, ctx: StepContext) -> str:
        runtime = docker(ctx, self.name)
        project = current_project(ctx)
        provider = DockerComposeProvider(project, runtime)
        try:
            built = _missing_images(project, runtime)
            for name in built:
                provider._run("build", name, timeout=1200)
            # Docker's containers from before the migration (stopped, maybe attached to a network the
            # migration removed): Compose makes them afresh; their volumes are kept.
            for c in runtime.project_containers(project.name):
                if c.status != "running":
                    ctx.log.info("remove stale Docker container %s (%s)", c.name, c.status)
                    runtime.remove_container(c.name)
            conflicts = _port_conflicts(project, runtime) + _firewall_blocks(project)
            if conflicts:
                raise StepFailed(self.name, "; ".join(conflicts), RERUN)
            ctx.record("started_at", time.time())
            began = time.monotonic()
            provider._run(
                "up", "-d", "--no-build", "--wait", "--wait-timeout", str(WAIT_TIMEOUT), timeout=WAIT_TIMEOUT + 120
            )
        except StepFailed:
            raise
        except CommandError as e:
            tail = " | ".join(line.strip() for line in e.stderr.strip().splitlines()[-3:]) or "no output"
            raise StepFailed(self.name, f"`docker compose` exited {e.returncode}: {tail}", RERUN) from e
        except PodshiftError as e:
            raise StepFailed(self.name, f"could not start the stack: {e}", RERUN) from e
        problems = service_problems(runtime, project)
        if problems:
            raise StepFailed(self.name, f"started, but not healthy: {'; '.join(problems)}", RERUN)
        what = f"built {', '.join(built)}; " if built else ""
        return f"{what}{len(project.services)} service(s) healthy under Docker in {time.monotonic() - began:.1f} s"
