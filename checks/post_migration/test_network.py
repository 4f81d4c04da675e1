"""network: published ports answer, and the services reach each other by name."""

from __future__ import annotations

import pytest

from podshift.compose.model import ComposeProject
from podshift.runtimes import PodmanRuntime
from podshift.stack_health import endpoint_problem, tcp_endpoints

pytestmark = [pytest.mark.post_migration, pytest.mark.category("network")]


@pytest.mark.severity("critical")
@pytest.mark.check_id("postmigration.ports-answer")
def test_every_published_port_answers(migrated: ComposeProject, evidence) -> None:
    """Every published port accepts connections on its address."""
    failed = []
    for service, host, port in tcp_endpoints(migrated):
        why = endpoint_problem(host, port)
        evidence(f"{service} {host}:{port}", why or "answers")
        if why:
            failed.append(f"{service} {host}:{port} ({why})")
    assert not failed, (
        f"published ports that do not answer: {', '.join(failed)} — `podman port <container>` and "
        "`podshift recover network-issues`"
    )


@pytest.mark.severity("critical")
@pytest.mark.check_id("postmigration.services-resolve-by-name")
def test_services_reach_each_other_by_name(migrated: ComposeProject, target_podman: PodmanRuntime, evidence) -> None:
    """Every service resolves every other service on a network they share, by its service name."""
    containers = {c.service: c for c in target_podman.project_containers(migrated.name) if c.status == "running"}
    failed = []
    for name, service in sorted(migrated.services.items()):
        c = containers.get(name)
        if c is None:
            continue
        for other, other_service in sorted(migrated.services.items()):
            if other == name or not set(service.networks) & set(other_service.networks):
                continue
            result = target_podman.exec(c.name, ["nslookup", other])
            if not result.succeeded:
                result = target_podman.exec(c.name, ["getent", "hosts", other])
            evidence(f"{name} -> {other}", "resolves" if result.succeeded else "does not resolve")
            if not result.succeeded:
                failed.append(f"{name} -> {other}")
    assert not failed, (
        f"services that cannot resolve each other: {', '.join(failed)} — the network backend gives no DNS: "
        "`podshift recover network-issues`"
    )
