"""network-issues: the project's networks under Podman, their subnets, DNS and TCP between its services."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from podshift.compose.model import ComposeProject
from podshift.recovery.dns import aardvark_dir, find_stale
from podshift.recovery.network import (
    STALE_NETNS,
    connectivity,
    forward_drop_rule,
    mismatches,
    rootless_netns_problem,
    subnet_claims,
)
from podshift.runtimes import PodmanRuntime

pytestmark = [pytest.mark.recovery, pytest.mark.scenario("network-issues"), pytest.mark.category("network")]
RECOVER = "`podshift recover network-issues`"


@pytest.mark.check_id("recovery.network.rootless-netns-usable")
@pytest.mark.scenario("diagnose")
@pytest.mark.severity("critical")
def test_rootless_netns_usable(target_podman: PodmanRuntime) -> None:
    """Rootless Podman can join the user's network namespace (``podman unshare --rootless-netns true``)."""
    said = rootless_netns_problem(target_podman)
    if said:
        do = RECOVER if STALE_NETNS in said else "`podshift diagnose`"
        why = " (its runtime directory is gone; containers on the user's networks cannot start)"
        pytest.fail(f'podman says: "{said}"' + (why if STALE_NETNS in said else "") + f"; do: {do}", pytrace=False)


@pytest.mark.check_id("recovery.network.networks-as-declared")
@pytest.mark.severity("critical")
def test_networks_as_declared(target_podman: PodmanRuntime, compose_project: ComposeProject) -> None:
    """The project's networks exist under Podman with their declared subnets."""
    wrong = mismatches(compose_project, target_podman)
    if wrong:
        pytest.fail("; ".join(wrong) + f"; do: {RECOVER}", pytrace=False)


@pytest.mark.check_id("recovery.network.subnets-not-claimed-elsewhere")
@pytest.mark.severity("critical")
def test_subnets_not_claimed_elsewhere(target_podman: PodmanRuntime, compose_project: ComposeProject) -> None:
    """No other network or host route claims a subnet the project declares."""
    claims = subnet_claims(compose_project, target_podman)
    if claims:
        owners = "; ".join(c.describe() for c in claims)
        pytest.fail(f"{owners}; Podman refuses such a subnet; do: free it, then {RECOVER}", pytrace=False)


@pytest.mark.check_id("recovery.network.services-reach-each-other")
@pytest.mark.severity("critical")
def test_services_reach_each_other(target_podman: PodmanRuntime, compose_project: ComposeProject) -> None:
    """Every service resolves the others by name and connects to their ports."""
    problems = connectivity(compose_project, target_podman)
    if problems:
        pytest.fail("; ".join(problems) + f"; do: {RECOVER}", pytrace=False)


@pytest.mark.check_id("recovery.network.forward-policy-accepts")
@pytest.mark.severity("warning")
def test_forward_policy_accepts() -> None:
    """The iptables FORWARD chain's policy is not DROP (Docker sets it to DROP)."""
    rule = forward_drop_rule()
    if rule:
        pytest.fail(
            f"iptables has `{rule}` (set by Docker): forwarded traffic that no rule accepts is dropped, "
            "which cuts Podman containers off when netavark's own rules do not cover it; do: once Docker is gone, "
            "`iptables -P FORWARD ACCEPT`, or add an ACCEPT rule for the project's subnet",
            pytrace=False,
        )


@pytest.mark.check_id("recovery.network.no-stale-dns-files")
@pytest.mark.scenario("diagnose")
@pytest.mark.severity("critical")
def test_no_stale_dns_files(target_podman: PodmanRuntime, evidence: Callable[[str, object], None]) -> None:
    """aardvark-dns holds no file of a network that no longer exists (it would answer NXDOMAIN on that gateway)."""
    directory = aardvark_dir(target_podman)
    stale = find_stale(target_podman)
    evidence("aardvark-dns", [s.describe(directory) for s in stale] or f"nothing stale in {directory}")
    gone = [s for s in stale if s.network_gone]
    if gone:
        said = "; ".join(s.describe(directory) for s in gone)
        pytest.fail(
            f"{said}; aardvark-dns still serves that gateway from it (chosen at random on each reload), so a new "
            "network on the same gateway loses its container names (NXDOMAIN, or timeouts when the gone network's "
            f"bridge stayed too); do: {RECOVER} (removes only files of networks that no longer exist)",
            pytrace=False,
        )
