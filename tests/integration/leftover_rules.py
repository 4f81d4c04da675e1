"""A NAT rule of Podman's network backend whose container Podman does not have: made with netavark itself.

What a rootful Podman leaves when a container's network is never torn down (its
state lost, a failed cleanup).  On this host (Podman 4.3.1, netavark 1.4) killing
conmon and the container's process with -9 does not get there: `podman rm -f`
(what the rollback's stop-podman runs) tears the rules down (the first attempt
fails "could not be stopped", the second succeeds).  So the rules are made by
the binary Podman calls, `netavark setup`, for a container id nobody has, on a
network of our own (bridge ``<prefix>fw*``, 10.<net>.250.0/24) in a network namespace
of our own; teardown removes exactly those (and the bridge).  Nobody else's
rule is touched.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

NETAVARK = Path("/usr/lib/podman/netavark")


@dataclass(frozen=True)
class LeftRule:
    container_id: str
    port: int


@contextmanager
def podman_nat_rule_left(port: int, prefix: str, net: int) -> Iterator[LeftRule]:
    """While inside: netavark's DNAT of 127.0.0.1:*port* for a container Podman never had."""
    tag = secrets.token_hex(3)
    netns, network = f"{prefix}fw{tag}", f"{prefix}fwnet{tag}"
    bridge = f"{prefix.rstrip('-')}fw{tag}"[:15]  # an interface name: 15 characters at most
    container_id = secrets.token_hex(32)
    config = {
        "container_id": container_id,
        "container_name": f"{prefix}fw-gone-{tag}",
        "port_mappings": [
            {"host_ip": "127.0.0.1", "container_port": 8080, "host_port": port, "range": 1, "protocol": "tcp"}
        ],
        "networks": {network: {"interface_name": "eth0", "static_ips": [f"10.{net}.250.2"]}},
        "network_info": {
            network: {
                "name": network,
                "id": secrets.token_hex(32),
                "driver": "bridge",
                "network_interface": bridge,
                "created": "2026-01-01T00:00:00Z",
                "subnets": [{"subnet": f"10.{net}.250.0/24", "gateway": f"10.{net}.250.1"}],
                "ipv6_enabled": False,
                "internal": False,
                "dns_enabled": False,
                "ipam_options": {"driver": "host-local"},
            }
        },
    }
    body = json.dumps(config).encode()
    with tempfile.TemporaryDirectory(prefix=f"{prefix}netavark-") as state:
        subprocess.run(["ip", "netns", "add", netns], check=True)
        try:
            argv = [str(NETAVARK), "--config", state]
            subprocess.run([*argv, "setup", f"/run/netns/{netns}"], input=body, check=True, capture_output=True)
            try:
                yield LeftRule(container_id, port)
            finally:
                subprocess.run([*argv, "teardown", f"/run/netns/{netns}"], input=body, check=False, capture_output=True)
        finally:
            subprocess.run(["ip", "netns", "del", netns], check=False)


def rules_naming(container_id: str) -> list[str]:
    """Lines of `iptables -t nat -S` that name *container_id* (its jump rule carries the id)."""
    out = subprocess.run(["iptables", "-w", "5", "-t", "nat", "-S"], capture_output=True, text=True, check=True)
    return [line for line in out.stdout.splitlines() if container_id in line]
