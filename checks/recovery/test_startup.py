"""failed-startup: the stack's ports, container names and health under the target Podman."""

from __future__ import annotations

import pytest

from podshift.compose.model import ComposeProject
from podshift.recovery.startup import (
    log_tail,
    name_holders,
    port_uses,
    privileged_ports,
    unhealthy_services,
    unprivileged_port_start,
)
from podshift.runtimes import PodmanRuntime

pytestmark = [pytest.mark.recovery, pytest.mark.scenario("failed-startup")]
RECOVER = "`podshift recover failed-startup`"


@pytest.mark.check_id("recovery.startup.published-ports-free-or-ours")
@pytest.mark.category("network")
@pytest.mark.severity("critical")
def test_published_ports_free_or_ours(target_podman: PodmanRuntime, compose_project: ComposeProject) -> None:
    """No other process holds a port the project publishes."""
    taken = [u.describe() for u in port_uses(target_podman, compose_project) if u.kind != "ours"]
    if taken:
        pytest.fail("; ".join(taken) + f"; do: stop it, then {RECOVER}", pytrace=False)


@pytest.mark.check_id("recovery.startup.published-ports-unprivileged")
@pytest.mark.category("network")
@pytest.mark.severity("critical")
@pytest.mark.remediation("unprivileged-port-start")
def test_published_ports_unprivileged(target_podman: PodmanRuntime, compose_project: ComposeProject) -> None:
    """Rootless Podman may bind every port the project publishes (none below ip_unprivileged_port_start)."""
    start = unprivileged_port_start()
    low = privileged_ports(target_podman, compose_project, start)
    if low:
        named = ", ".join(f"{port} ({service})" for port, service in sorted(low.items()))
        pytest.fail(
            f"rootless Podman may not bind {named}: net.ipv4.ip_unprivileged_port_start is {start} (podman#13426); "
            f"do: {RECOVER} --allow-system-changes (the unprivileged-port-start fix), or publish ports >= {start}",
            pytrace=False,
        )


@pytest.mark.check_id("recovery.startup.no-container-blocks-a-name")
@pytest.mark.category("compose")
@pytest.mark.severity("critical")
def test_no_container_blocks_a_name(target_podman: PodmanRuntime, compose_project: ComposeProject) -> None:
    """No stopped or foreign container holds a name podman-compose needs for the stack."""
    blocking = [
        f'{c.name} ({c.state}, image {c.image}): podman would say "the container name {c.name} is already in use"'
        for c in name_holders(target_podman, compose_project)
    ]
    if blocking:
        pytest.fail("; ".join(blocking) + f"; do: {RECOVER}", pytrace=False)


@pytest.mark.check_id("recovery.startup.every-service-healthy")
@pytest.mark.category("compose")
@pytest.mark.severity("critical")
def test_every_service_healthy(target_podman: PodmanRuntime, compose_project: ComposeProject) -> None:
    """Every service has a running container whose healthcheck passes."""
    wrong = unhealthy_services(target_podman, compose_project)
    if wrong:
        lines = []
        for service, state in wrong.items():
            names = [c.name for c in target_podman.project_containers(compose_project.name) if c.service == service]
            tail = log_tail(target_podman, names[0], 5) if names else ""
            lines.append(f"service {service}: {state}" + (f"; last log lines:\n{tail}" if tail else ""))
        pytest.fail("\n".join(lines) + f"\ndo: {RECOVER}", pytrace=False)
