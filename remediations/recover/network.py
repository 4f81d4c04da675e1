"""network-issues: name who claims the project's subnets, recreate its networks, restart it, test DNS and TCP.

A subnet claimed by someone else is named with its owner and Podman's own
refusal, and the scenario stops before it changes anything.
"""

from __future__ import annotations

import os
import secrets

from podshift.compose.provider import provider_for
from podshift.errors import PodshiftError
from podshift.recovery.dns import (
    aardvark_dir,
    aardvark_pid,
    delete_bridges,
    find_stale,
    leftover_bridges,
    reload_aardvark,
    remove_files,
)
from podshift.recovery.engines import compose_argv
from podshift.recovery.network import (
    STALE_NETNS,
    clear_stale_netns,
    connectivity,
    declared_networks,
    forward_drop_rule,
    mismatches,
    podman_refusal,
    rootless_netns_problem,
    stale_netns_files,
    subnet_claims,
)
from podshift.recovery.startup import unhealthy_services
from podshift.remediation import CommandStep, Plan
from podshift.steps import Step, StepContext, StepFailed

SCENARIO = "network-issues"
START_TIMEOUT = 180


def _sound(ctx: StepContext) -> bool:
    """The networks are as declared, every service is healthy and they reach each other."""
    podman = ctx.podman()
    return (
        not rootless_netns_problem(podman)
        and not [s for s in find_stale(podman) if s.network_gone]
        and not mismatches(ctx.project, podman)
        and not unhealthy_services(podman, ctx.project)
        and not connectivity(ctx.project, podman)
    )


class _NetworkStep(Step):
    action = "recover"
    scenarios = (SCENARIO,)

    def done(self, ctx: StepContext) -> bool:
        return super().done(ctx) and _sound(ctx)


class RootlessNetns(_NetworkStep):
    name = "rootless-netns"
    title = "Clear the user's stale rootless network namespace when Podman cannot join it"
    order = 5

    def plan(self, ctx: StepContext) -> Plan:
        podman = ctx.podman()
        said = rootless_netns_problem(podman)
        if not said or STALE_NETNS not in said:
            return Plan(fix=self.name, scope="user", summary="the rootless network namespace is usable: nothing to do")
        files = stale_netns_files(podman)
        return Plan(
            fix=self.name,
            scope="user",
            summary=f'{self.title} (podman says: "{said}")',
            commands=tuple(
                CommandStep(("podman", "unshare", *argv, str(f)), run_as=ctx.podman_user)
                for f in files
                for argv in (("umount",), ("rm", "-f"))
            ),
        )

    def run(self, ctx: StepContext) -> str:
        podman = ctx.podman()
        said = rootless_netns_problem(podman)
        if said is None:
            return "the rootless network namespace is usable: nothing to do"
        if STALE_NETNS not in said:
            raise StepFailed(
                self.name, f'podman cannot join the rootless network namespace: "{said}"', "podshift diagnose"
            )
        files = stale_netns_files(podman)
        ctx.record("cleared", [str(f) for f in files])
        ctx.log.info("clearing the stale rootless network namespace %s (podman says: %s)", files, said)
        failed = clear_stale_netns(podman, files)
        after = rootless_netns_problem(podman)
        if failed or after:
            raise StepFailed(self.name, f'still: "{after}"' + (f"; not removed: {failed}" if failed else ""))
        # Containers still running in the old namespace keep it; recreate-networks restarts the project's.
        return f'cleared {", ".join(map(str, files))} (podman said: "{said}"); Podman made a new one'


class StaleDnsFiles(_NetworkStep):
    name = "stale-dns-files"
    title = "Remove aardvark-dns files of networks that no longer exist, reload aardvark-dns"
    order = 7
    after = ("rootless-netns",)

    def plan(self, ctx: StepContext) -> Plan:
        podman = ctx.podman()
        directory = aardvark_dir(podman)
        gone = [s for s in find_stale(podman) if s.network_gone]
        if not gone:
            return Plan(fix=self.name, scope="user", summary=f"no stale file in {directory}: nothing to do")
        bridges = leftover_bridges(podman, gone)
        uid = podman.run_as.uid if podman.run_as else os.getuid()
        return Plan(
            fix=self.name,
            scope="user",
            summary=self.title,
            commands=(
                *(CommandStep(("rm", str(directory / s.network))) for s in gone),
                *(CommandStep(("kill", "-HUP", str(pid))) for pid in (aardvark_pid(directory, uid),) if pid),
                *(
                    CommandStep(
                        ("podman", "unshare", "--rootless-netns", "ip", "link", "del", b), run_as=ctx.podman_user
                    )
                    for b in bridges
                ),
            ),
            notes=tuple(s.describe(directory) for s in gone)
            + tuple(f"bridge {b} of a gone network still holds its gateway" for b in bridges),
        )

    def run(self, ctx: StepContext) -> str:
        podman = ctx.podman()
        directory = aardvark_dir(podman)
        gone = [s for s in find_stale(podman) if s.network_gone]
        if not gone:
            return f"no stale file in {directory}: nothing to do"
        # Named before the files go: the bridges are found by the gone networks' gateways.
        bridges = leftover_bridges(podman, gone)
        ctx.record("removed", [str(directory / s.network) for s in gone])
        ctx.record("bridges", bridges)
        for s in gone:
            ctx.log.info("stale aardvark-dns file: %s", s.describe(directory))
        failed = remove_files(directory, [s.network for s in gone])
        reloaded = reload_aardvark(podman, directory)
        failed += delete_bridges(podman, bridges)
        left = [s.network for s in find_stale(podman) if s.network_gone]
        if failed or left:
            raise StepFailed(
                self.name, f"not removed: {'; '.join(failed) or ', '.join(left)}", f"remove them by hand in {directory}"
            )
        said = "; ".join(s.describe(directory) for s in gone)
        extra = f"; deleted the leftover bridge(s) {', '.join(bridges)} in the rootless netns" if bridges else ""
        return f"removed the stale file(s): {said}; {reloaded}{extra}"


class FindSubnetOwners(_NetworkStep):
    name = "find-subnet-owners"
    title = "Name whoever else claims the project's subnets (stop here if anyone does)"
    order = 10
    after = ("stale-dns-files",)

    def plan(self, ctx: StepContext) -> Plan:
        claims = subnet_claims(ctx.project, ctx.podman())
        notes = tuple(f"would stop here: {c.describe()}" for c in claims)
        return Plan(fix=self.name, scope="project", summary=self.title, notes=notes)

    def run(self, ctx: StepContext) -> str:
        podman = ctx.podman()
        rule = forward_drop_rule()
        note = f"; note: iptables has `{rule}` (Docker sets it)" if rule else ""
        if _sound(ctx):
            return "networks as declared, services healthy and reaching each other: nothing to do" + note
        claims = subnet_claims(ctx.project, podman)
        if claims:
            owned = {n.name for n in podman.project_networks(ctx.project.name)}
            said = ""
            if not set(declared_networks(ctx.project)) <= owned:
                # Podman's own words, from a probe network that it refuses (removed at once if not).
                said = podman_refusal(podman, claims[0].subnet, f"podshift-probe-{secrets.token_hex(4)}")
            docker = next((c for c in claims if c.owner.startswith("Docker network")), None)
            hint = (
                f"`docker compose -p {ctx.project.name} down` removes Docker's containers and network (volumes stay), "
                "then this again"
                if docker and f"compose project {ctx.project.name}" in docker.owner
                else "free the subnet or declare another one in the compose file, then this again"
            )
            reason = "; ".join(c.describe() for c in claims) + (f'; podman says: "{said}"' if said else "")
            raise StepFailed(self.name, reason, hint)
        return "no one else claims the project's subnets" + note


class RecreateNetworks(_NetworkStep):
    name = "recreate-networks"
    title = "Remove the project's containers and networks (volumes stay), create them again, restart the services"
    order = 20
    after = ("find-subnet-owners",)

    def plan(self, ctx: StepContext) -> Plan:
        argv = compose_argv(ctx.project, ctx.podman())
        declared = declared_networks(ctx.project)
        nets = ", ".join(f"{n} {'/'.join(s) or '(engine-chosen subnet)'}" for n, s in declared.items())
        return Plan(
            fix=self.name,
            scope="project",
            summary=self.title,
            commands=(CommandStep((*argv, "down")), CommandStep((*argv, "up", "-d", "--no-start"))),
            notes=(f"networks: {nets}", "then start the services in dependency order, driving healthchecks"),
        )

    def run(self, ctx: StepContext) -> str:
        podman = ctx.podman()
        if _sound(ctx):
            return "nothing to do"
        before = podman.project_networks(ctx.project.name)
        ctx.record("networks", [{"name": n.name, "subnets": list(n.subnets)} for n in before])
        provider = provider_for(ctx.project, podman)
        try:
            provider.down()
            provider.up(timeout=START_TIMEOUT)
        except PodshiftError as e:
            raise StepFailed(self.name, f"could not restart the stack on new networks: {e}", "podshift diagnose") from e
        finally:
            provider.close()
        wrong = mismatches(ctx.project, podman)
        if wrong:
            raise StepFailed(self.name, "; ".join(wrong), "podshift diagnose")
        nets = ", ".join(f"{n.name} {'/'.join(n.subnets)}" for n in podman.project_networks(ctx.project.name))
        return f"recreated {nets}; services restarted"


class CheckConnectivity(_NetworkStep):
    name = "check-connectivity"
    title = "Resolve each service by name and connect to its ports from the other services' containers"
    order = 30
    after = ("recreate-networks",)

    def run(self, ctx: StepContext) -> str:
        problems = connectivity(ctx.project, ctx.podman())
        if problems:
            raise StepFailed(self.name, "; ".join(problems), "podshift diagnose")
        return "every service resolves and accepts TCP by service name"
