"""The decision on iptables rules that block Docker's ports, on outputs recorded from `iptables -t TABLE -S`.

nat-netavark-left.txt: this host (Podman 4.3.1, netavark, iptables-nft 1.8.9) right after a rootful
`podman run -p 127.0.0.1:21390:8080` whose conmon and process were killed with -9 (recorded before
`podman rm` tore the rules down).  nat-cni-left.txt: the same from CNI's portmap plugin (multiport).
"""

from __future__ import annotations

import subprocess

from podshift.firewall import Rule, blocking_rules, parse_rules

from ..conftest import REPO

DATA = REPO / "tests" / "data" / "iptables"
GONE = "eea68281dad20c608a87aeb4c2c54b0a073521bdc7d07cceb0c63eea9b083454"


def _rules(table: str, name: str) -> list[Rule]:
    return parse_rules(table, (DATA / name).read_text())


def test_a_netavark_rule_of_a_container_podman_no_longer_has_is_named_with_its_removal() -> None:
    found = blocking_rules(_rules("nat", "nat-netavark-left.txt"), {21390, 21366}, live_ids={"0123456789ab"})
    assert len(found) == 1, found
    blocking = found[0]
    assert blocking.port == 21390
    assert blocking.rule.chain == "NETAVARK-HOSTPORT-DNAT"
    assert "eea68281dad2" in blocking.why
    assert blocking.rule.remove_argv() == [
        "iptables", "-t", "nat", "-D", "NETAVARK-HOSTPORT-DNAT", "-p", "tcp", "-m", "tcp", "--dport", "21390",
        "-m", "comment", "--comment", f"dnat name: podman id: {GONE}", "-j", "NETAVARK-DN-1D8721804F16F",
    ]  # fmt: skip
    text = blocking.describe()
    assert f'--comment "dnat name: podman id: {GONE}"' in text or f"--comment 'dnat name: podman id: {GONE}'" in text
    assert "iptables -t nat -D NETAVARK-HOSTPORT-DNAT" in text


def test_the_rule_of_a_container_podman_still_has_is_not_a_leftover() -> None:
    rules = _rules("nat", "nat-netavark-left.txt")
    assert blocking_rules(rules, {21390}, live_ids={GONE}) == []
    assert blocking_rules(rules, {21390}, live_ids={GONE[:12]}) == []  # short ids match too


def test_podman_unknown_judges_no_nat_rule() -> None:
    assert blocking_rules(_rules("nat", "nat-netavark-left.txt"), {21390}, live_ids=None) == []


def test_other_ports_and_dockers_own_rules_are_not_reported() -> None:
    rules = _rules("nat", "nat-netavark-left.txt")
    assert blocking_rules(rules, {21391}, live_ids=set()) == []
    assert blocking_rules(rules, {21366}, live_ids=set()) == [], "Docker's DNAT in chain DOCKER is Docker's"


def test_a_cni_rule_with_multiport_and_quoted_id_is_found() -> None:
    found = blocking_rules(_rules("nat", "nat-cni-left.txt"), {21391}, live_ids=set())
    assert [(b.port, b.rule.chain, b.rule.owner) for b in found] == [
        (21391, "CNI-HOSTPORT-DNAT", "9c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d")
    ]


def test_drop_or_reject_on_a_project_port_is_reported_whoever_wrote_it() -> None:
    rules = _rules("filter", "filter-reject.txt")
    found = blocking_rules(rules, {21392, 3000}, live_ids=set())
    assert [(b.port, b.rule.chain, b.rule.option("-j")) for b in found] == [(21392, "INPUT", "REJECT")]
    assert found[0].rule.remove_argv()[:5] == ["iptables", "-t", "filter", "-D", "INPUT"]


def test_the_removal_command_round_trips_through_a_shell() -> None:
    # What the user copies from the message is what deletes the rule: the quoting survives a shell.
    blocking = blocking_rules(_rules("nat", "nat-cni-left.txt"), {21391}, live_ids=set())[0]
    command = blocking.describe().split("remove it: `")[1].split("`")[0]
    echoed = subprocess.run(["sh", "-c", f'for a in {command[len("iptables "):]}; do printf "%s\\n" "$a"; done'],
                            capture_output=True, text=True, check=True)  # fmt: skip
    assert echoed.stdout.splitlines() == blocking.rule.remove_argv()[1:]
