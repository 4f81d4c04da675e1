"""Podman's leftover NAT rules on the real host: they block a port, are found, and the named command removes them."""

from __future__ import annotations

import os
import random
import shlex
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from podshift.compose import load_project
from podshift.firewall import host_blocking_rules
from podshift.rollback.preflight import prerequisites
from podshift.runtimes import DockerRuntime, PodmanRuntime

from .leftover_rules import NETAVARK, LeftRule, podman_nat_rule_left, rules_naming

_low, _high = os.environ.get("PODSHIFT_TEST_PORTS", "21200-21299").split("-")
NET = int(os.environ.get("PODSHIFT_TEST_NET", "12"))
PREFIX = os.environ.get("PODSHIFT_TEST_PREFIX", "i12-")


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=3) as s:
            return s.recv(16) == b"hello"
    except OSError:
        return False


@pytest.fixture
def listener() -> Iterator[int]:
    """Something answering on a free port of ours, as Docker's proxy would."""
    server = socket.socket()
    for port in random.sample(range(int(_low), int(_high) + 1), int(_high) - int(_low) + 1):
        try:
            server.bind(("127.0.0.1", port))
            break
        except OSError:
            continue
    server.listen()
    server.settimeout(0.5)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                conn.sendall(b"hello")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=5)
        server.close()


@pytest.fixture
def left(listener: int) -> Iterator[LeftRule]:
    if os.geteuid() != 0 or not NETAVARK.exists():
        pytest.fail("needs root and netavark (rootful Podman's network backend)")
    with podman_nat_rule_left(listener, PREFIX, NET) as rule:
        yield rule
    assert rules_naming(rule.container_id) == [], "the test's own rules were not all removed"


def test_a_leftover_podman_nat_rule_blocks_the_port_and_is_named_with_the_command_that_removes_it(
    listener: int, left: LeftRule
) -> None:
    assert not _answers(listener), "the leftover DNAT does not send the port elsewhere: nothing to detect"
    found = host_blocking_rules({listener})
    assert len(found) == 1, [b.describe() for b in found]
    blocking = found[0]
    assert blocking.rule.chain == "NETAVARK-HOSTPORT-DNAT"
    assert blocking.rule.owner == left.container_id
    assert f"port {listener}:" in blocking.describe()
    assert f"iptables -t nat -A NETAVARK-HOSTPORT-DNAT -p tcp -m tcp --dport {listener}" in blocking.describe()
    # The command the report names, run as printed (a shell would split it the same), frees the port.
    command = blocking.describe().split("remove it: `")[1].rstrip("`")
    subprocess.run(shlex.split(command), check=True)
    assert _answers(listener), "the named command did not free the port"
    assert host_blocking_rules({listener}) == []


def test_verify_only_names_a_leftover_rule_on_a_published_port(
    listener: int, left: LeftRule, tmp_path: Path, docker_runtime: DockerRuntime, podman_runtime: PodmanRuntime
) -> None:
    """`rollback --verify-only`'s prerequisites: the rule fails the port's finding, named with its removal."""
    (tmp_path / "compose.yaml").write_text(
        f"name: {PREFIX}fwcheck\nservices:\n  api:\n    image: localhost/podshift-helper:1\n"
        f"    ports: ['127.0.0.1:{listener}:8080']\n"
    )
    project = load_project(tmp_path)
    findings = prerequisites(project, docker_runtime, podman_runtime, keep_data=False)
    firewall = [f for f in findings if f.what == f"port {listener} (firewall)"]
    assert len(firewall) == 1, [f.render() for f in findings]
    assert not firewall[0].ok
    assert left.container_id in firewall[0].detail
    assert "iptables -t nat -D NETAVARK-HOSTPORT-DNAT" in firewall[0].detail
