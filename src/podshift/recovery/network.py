"""network-issues: the project's networks under Podman, who else claims their subnets, and whether
its containers reach each other by service name.

Netavark refuses a subnet that a host route already covers ("subnet ... is
already used on the host or by another config", podman#25736): the usual
owner is Docker's bridge of the same stack, which keeps its subnet after
``docker compose stop``.  Docker also sets the FORWARD policy to DROP
(podman#24486), which is reported with the exact rule.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from podshift.compose.model import ComposeProject
from podshift.errors import EngineUnavailable
from podshift.firewall import chain_policy
from podshift.probes import host_routes
from podshift.recovery.engines import podman as podman_cli
from podshift.runtimes import PROJECT_LABEL, DockerRuntime, PodmanRuntime

Net = ipaddress.IPv4Network | ipaddress.IPv6Network


def declared_networks(project: ComposeProject) -> dict[str, tuple[str, ...]]:
    """Engine-side name -> declared subnets, for the project's own (non-external) networks."""
    found = {}
    for key, spec in project.networks.items():
        spec = spec or {}
        if spec.get("external"):
            continue
        configs = (spec.get("ipam") or {}).get("config") or []
        found[project.network_name(key)] = tuple(str(c["subnet"]) for c in configs if c.get("subnet"))
    return found


def mismatches(project: ComposeProject, podman: PodmanRuntime) -> list[str]:
    """Declared networks missing under Podman, or present with other subnets."""
    have = {n.name: set(n.subnets) for n in podman.project_networks(project.name)}
    problems = []
    for name, subnets in declared_networks(project).items():
        if name not in have:
            problems.append(f"network {name} does not exist under {podman.label}")
        elif subnets and set(subnets) != have[name]:
            got = ", ".join(sorted(have[name]))
            problems.append(f"network {name} has subnet(s) {got}, declared {', '.join(subnets)}")
    return problems


@dataclass(frozen=True)
class SubnetClaim:
    subnet: str
    owner: str

    def describe(self) -> str:
        return f"subnet {self.subnet} is already claimed by {self.owner}"


def _overlaps(a: str, b: str) -> bool:
    try:
        return ipaddress.ip_network(a, strict=False).overlaps(ipaddress.ip_network(b, strict=False))
    except (ValueError, TypeError):
        return False


def _docker_networks() -> list[dict[str, Any]]:
    docker = DockerRuntime()
    try:
        docker.ping()
        return [n.attrs for n in docker.client.networks.list()]
    except EngineUnavailable:
        return []  # Docker down: its bridges still show up as host routes below
    finally:
        docker.close()


def subnet_claims(project: ComposeProject, podman: PodmanRuntime) -> list[SubnetClaim]:
    """Who else (a Docker network, another Podman network, a host route) claims a declared subnet."""
    ours = set(declared_networks(project))
    wanted = [s for subnets in declared_networks(project).values() for s in subnets]
    claims: list[SubnetClaim] = []
    explained: set[str] = set()  # host devices that belong to an engine's network
    for attrs in _docker_networks():
        bridge = (attrs.get("Options") or {}).get("com.docker.network.bridge.name") or f"br-{attrs.get('Id', '')[:12]}"
        explained.add(bridge)
        labels = attrs.get("Labels") or {}
        who = f", compose project {labels[PROJECT_LABEL]}" if PROJECT_LABEL in labels else ""
        for c in (attrs.get("IPAM") or {}).get("Config") or []:
            for s in wanted:
                if c.get("Subnet") and _overlaps(s, c["Subnet"]):
                    claims.append(SubnetClaim(s, f"Docker network {attrs.get('Name')} (bridge {bridge}{who})"))
    for n in podman.client.networks.list():
        attrs = n.attrs
        explained.add(str(attrs.get("network_interface", "")))
        if attrs.get("name") in ours:
            continue
        for sub in attrs.get("subnets") or []:
            for s in wanted:
                if sub.get("subnet") and _overlaps(s, sub["subnet"]):
                    claims.append(SubnetClaim(s, f"Podman network {attrs.get('name')} ({podman.label})"))
    our_devices = {
        str(n.attrs.get("network_interface", "")) for n in podman.client.networks.list() if n.attrs.get("name") in ours
    }
    for dst, dev in host_routes():
        if dev in explained or dev in our_devices:
            continue
        for s in wanted:
            if _overlaps(s, str(dst)):
                claims.append(SubnetClaim(s, f"the host route {dst} dev {dev}"))
    return claims


def podman_refusal(podman: PodmanRuntime, subnet: str, probe_name: str) -> str:
    """What Podman itself says when asked for *subnet* (a probe network, removed at once if it is made)."""
    result = podman_cli(podman, "network", "create", "--subnet", subnet, probe_name, timeout=60)
    if result.succeeded:
        podman_cli(podman, "network", "rm", probe_name, timeout=60)
        return ""
    return (result.stderr.strip().splitlines() or [""])[-1]


def connectivity(project: ComposeProject, podman: PodmanRuntime) -> list[str]:
    """From one running container per service: each other service's name resolves and its ports accept TCP."""
    containers = podman.project_containers(project.name)
    running = {c.service: c.name for c in containers if c.status == "running" and c.service}
    problems = []
    for source, container in sorted(running.items()):
        for target, svc in sorted(project.services.items()):
            if target == source or not set(svc.networks) & set(project.services[source].networks):
                continue
            dns = podman.exec(container, ["nslookup", target])
            if dns.rc != 0:
                said = (dns.stdout + dns.stderr).strip().splitlines()[-1:] or ["no output"]
                problems.append(f"{source} cannot resolve {target}: {said[0]}")
                continue
            for port in sorted({p.target for p in svc.ports}):
                tcp = podman.exec(container, ["timeout", "5", "nc", "-w", "3", target, str(port)])
                if tcp.rc != 0:
                    said = (tcp.stdout + tcp.stderr).strip().splitlines()[-1:] or [f"exit {tcp.rc}"]
                    problems.append(f"{source} cannot connect to {target}:{port}: {said[0]}")
    return problems


def forward_drop_rule() -> str | None:
    """The iptables FORWARD DROP policy rule (``-P FORWARD DROP``) when it is set, else None."""
    return "-P FORWARD DROP" if chain_policy("FORWARD") == "DROP" else None


#: Podman 4.3's words when the user's rootless network namespace outlived its runtime directory
#: ($XDG_RUNTIME_DIR/libpod/tmp/rootless-netns, e.g. wiped by a tmp cleaner): every container on a
#: network of the user then fails to start, and so does its network cleanup.
STALE_NETNS = "failed to mount runtime directory for rootless netns"


def rootless_netns_problem(podman: PodmanRuntime) -> str | None:
    """What Podman says when it cannot join the user's rootless network namespace (None: it can, or rootful).

    Probed with ``podman unshare --rootless-netns true``, which joins (or creates) that namespace.
    """
    if not podman.rootless:
        return None
    result = podman_cli(podman, "unshare", "--rootless-netns", "true", timeout=120)
    if result.succeeded:
        return None
    lines = [ln for ln in result.stderr.strip().splitlines() if ln.strip() and "level=warning" not in ln]
    return lines[-1] if lines else f"exit {result.rc}"


def stale_netns_files(podman: PodmanRuntime) -> list[Path]:
    """The user's rootless network namespace files (``$XDG_RUNTIME_DIR/netns/rootless-netns-*``)."""
    runtime_dir = Path(podman.run_as.runtime_dir) if podman.run_as else Path(os.environ.get("XDG_RUNTIME_DIR", ""))
    if not str(runtime_dir) or not (runtime_dir / "netns").is_dir():
        return []
    return sorted((runtime_dir / "netns").glob("rootless-netns-*"))


def clear_stale_netns(podman: PodmanRuntime, files: list[Path]) -> list[str]:
    """Unmount and remove *files* inside the user's namespace (where they are mounted); what failed."""
    failed = []
    for path in files:
        podman_cli(podman, "unshare", "umount", str(path), timeout=60)  # not mounted: nothing to undo
        removed = podman_cli(podman, "unshare", "rm", "-f", str(path), timeout=60)
        if not removed.succeeded:
            failed.append(f"{path}: {removed.stderr.strip()[-200:]}")
    return failed
