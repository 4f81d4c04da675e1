"""network: ports, firewall, subnets and namespaces."""

from __future__ import annotations

import errno
import ipaddress
import os
import socket

import pytest

from podshift.commands import RunAs
from podshift.compose.model import ComposeProject
from podshift.firewall import chain_policy
from podshift.probes import host_routes, run
from podshift.runtimes import DockerRuntime

pytestmark = [pytest.mark.prerequisites, pytest.mark.category("network")]


def _port_in_use(host_ip: str, port: int, protocol: str = "tcp") -> bool:
    """Whether *port* is taken for *protocol* on *host_ip* (TCP and UDP ports are separate)."""
    kind = socket.SOCK_DGRAM if protocol == "udp" else socket.SOCK_STREAM
    with socket.socket(socket.AF_INET, kind) as s:
        if kind == socket.SOCK_STREAM:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host_ip or "0.0.0.0", port))  # noqa: S104 - probing the address the project publishes on
        except OSError as e:
            return e.errno == errno.EADDRINUSE
    return False


def _project_docker_ports(project: ComposeProject) -> set[tuple[int, str]]:
    """(host port, protocol) published by the project's running Docker containers (empty when Docker is down)."""
    runtime = DockerRuntime()
    try:
        if runtime.probe_socket() is not None:
            return set()
        ports: set[tuple[int, str]] = set()
        for c in runtime.client.containers.list(filters={"label": f"com.docker.compose.project={project.name}"}):
            for key, bindings in (c.attrs["NetworkSettings"].get("Ports") or {}).items():
                protocol = key.partition("/")[2] or "tcp"
                ports |= {(int(b["HostPort"]), protocol) for b in bindings or []}
        return ports
    finally:
        runtime.close()


def _unique_bindings(project: ComposeProject) -> list[tuple[str, str, int, str]]:
    """(service, host ip, port, protocol), each once (Compose lists one binding per address family)."""
    seen: dict[tuple[str, int, str], str] = {}
    for service, p in project.published_ports:
        assert p.published is not None
        seen.setdefault((p.host_ip, p.published, p.protocol), service)
    return [(service, ip, port, proto) for (ip, port, proto), service in seen.items()]


@pytest.mark.check_id("network.ports-free")
@pytest.mark.severity("critical")
def test_published_ports_are_free(project: ComposeProject, evidence) -> None:
    """Every port the project publishes is free, or held by this project's own Docker containers."""
    ours = _project_docker_ports(project)
    taken = []
    for service, host_ip, port, protocol in _unique_bindings(project):
        if _port_in_use(host_ip, port, protocol):
            mine = (port, protocol) in ours
            evidence(f"{service}:{port}/{protocol}", "this project's Docker container" if mine else "taken")
            if not mine:
                taken.append(f"{host_ip or '*'}:{port}/{protocol} ({service})")
    assert not taken, (
        f"ports the project publishes are held by another process: {', '.join(taken)} — "
        "stop it (`ss -ltnp` names TCP listeners, `ss -lunp` UDP ones) or remap the port"
    )


@pytest.mark.check_id("network.ports-held-by-docker")
@pytest.mark.severity("warning")
def test_ports_will_be_released_by_docker(project: ComposeProject, evidence) -> None:
    """The project's ports are not held by its Docker containers (else they must stop first)."""
    ours = _project_docker_ports(project)
    held = sorted({(port, proto) for _, _, port, proto in _unique_bindings(project) if (port, proto) in ours})
    evidence("held by Docker", [f"{port}/{proto}" for port, proto in held] or "none")
    assert not held, (
        f"ports {', '.join(f'{port}/{proto}' for port, proto in held)} are held by this project's Docker "
        "containers: they are stopped before Podman starts the project (podshift migrate does this)"
    )


@pytest.mark.check_id("network.forward-policy")
@pytest.mark.severity("warning")
def test_docker_forward_policy_lets_podman_route(podman_user: str, evidence) -> None:
    """Docker's iptables FORWARD policy does not drop rootful Podman's traffic."""
    if podman_user != "root":
        pytest.skip("rootless Podman does not route through the host's FORWARD chain")
    if os.geteuid() != 0:
        pytest.skip("reading iptables needs root")
    policy = chain_policy("FORWARD")
    if policy is None:
        pytest.skip("iptables is not installed or cannot be read here")
    evidence("FORWARD policy", policy)
    assert policy != "DROP", (
        "Docker set the FORWARD policy to DROP: rootful Podman containers cannot reach outside networks while "
        "Docker runs; after migrating, stop Docker or add `iptables -I FORWARD -i podman+ -j ACCEPT`"
    )


@pytest.mark.check_id("network.subnets-free")
@pytest.mark.severity("warning")
def test_project_subnets_do_not_overlap_host_routes(project: ComposeProject, evidence) -> None:
    """The project's network subnets do not overlap the host's own routes."""
    own_bridges = {f"br-{n.id[:12]}" for n in _docker_networks(project)}
    routes = [(net, dev) for net, dev in host_routes() if dev not in own_bridges]
    overlaps = []
    for key, spec in project.networks.items():
        for cfg in ((spec or {}).get("ipam") or {}).get("config") or []:
            subnet = ipaddress.ip_network(cfg["subnet"], strict=False)
            evidence(key, subnet)
            overlaps += [
                f"{key} {subnet} overlaps {net} on {dev}"
                for net, dev in routes
                if net.version == subnet.version and net.overlaps(subnet)
            ]  # type: ignore[arg-type]
    assert not overlaps, "; ".join(overlaps) + " — choose another subnet in the compose file"


def _docker_networks(project: ComposeProject) -> list:  # type: ignore[type-arg]
    runtime = DockerRuntime()
    try:
        return [] if runtime.probe_socket() else runtime.project_networks(project.name)
    finally:
        runtime.close()


@pytest.mark.check_id("network.namespaces")
@pytest.mark.severity("critical")
def test_network_namespaces_can_be_created(podman_user: str, evidence) -> None:
    """Network namespaces can be created (every container gets one)."""
    if podman_user == "root":
        argv, run_as = ["unshare", "--net", "true"], None
    else:
        argv, run_as = ["unshare", "--user", "--map-root-user", "--net", "true"], RunAs(podman_user)
    result = run(argv, run_as=run_as if os.geteuid() == 0 and run_as else None)
    evidence("unshare", result.rc)
    assert result.succeeded, f"cannot create a network namespace as {podman_user}: {result.stderr.strip()}"


@pytest.mark.check_id("network.subnet-held-by-docker")
@pytest.mark.severity("info")
def test_declared_subnets_are_not_held_by_docker(project: ComposeProject, evidence) -> None:
    """The project's declared subnets are not held by its Docker networks (else the migration removes them first)."""
    held = []
    for n in _docker_networks(project):
        declared = []
        for spec in project.networks.values():
            declared += [c["subnet"] for c in ((spec or {}).get("ipam") or {}).get("config") or [] if "subnet" in c]
        for subnet in n.subnets:
            evidence(n.name, subnet)
            if any(
                ipaddress.ip_network(subnet, strict=False).overlaps(ipaddress.ip_network(d, strict=False))
                for d in declared
            ):
                held.append(f"{subnet} by Docker network {n.name} (bridge br-{n.id[:12]})")
    assert not held, (
        f"the project's subnet is held {'; '.join(held)}: Podman refuses a subnet already used on the host, so "
        "the migration stops the Docker containers and removes the Docker network before Podman creates its own "
        "(a rollback re-creates it)"
    )
