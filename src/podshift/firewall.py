"""The host's iptables, read: rules Podman's network backend left behind, and chain policies.

Rules Podman's network backend left behind keep Docker's published ports from answering.

Rootful Podman (netavark, or CNI before it) publishes a port with NAT rules:
a jump in ``NETAVARK-HOSTPORT-DNAT`` (``CNI-HOSTPORT-DNAT``) whose comment names
the container (``dnat name: podman id: <id>``) into a per-container chain that
DNATs the port to the container's address.  They are removed when Podman tears
the container's network down.  When that teardown never happens (Podman's state
lost, a failed cleanup) the rules outlive the container, and since Podman's
chain comes first in ``PREROUTING``/``OUTPUT``, connections to the port keep
going to an address nobody answers on: Docker starts, its proxy listens, and
the stack does not answer.  A ``DROP``/``REJECT`` on the port in the filter
table does the same.

There is no Python binding for iptables on this host (no python3-iptables or
nftables bindings), so the rules are read as ``iptables -t TABLE -S`` prints
them (shell-quoted: :mod:`shlex` reads them back) and judged by
:func:`blocking_rules`, a pure function tested on recorded outputs.  Only
reported, with the exact rule and the command that removes it: podshift never
changes the host's firewall.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from podshift.commands import run
from podshift.errors import PodshiftError

#: Chains Podman's network backends create (netavark, CNI's portmap plugin).
PODMAN_CHAINS = ("NETAVARK-", "NETAVARK_", "CNI-")
#: netavark: ``dnat name: podman id: <id>``; CNI: ``dnat name: "podman" id: "<id>"``.
_OWNER = re.compile(r'\bid:\s*"?([0-9a-f]{12,64})"?')


@dataclass(frozen=True)
class Rule:
    """One rule as ``iptables -t TABLE -S`` prints it: ``-A CHAIN <match and target>``."""

    table: str
    args: tuple[str, ...]  # without the leading "-A"

    @property
    def chain(self) -> str:
        return self.args[0]

    def option(self, name: str) -> str | None:
        """The value after *name* (``--dport``, ``-j``, ``--comment``), if the rule has it."""
        for i, a in enumerate(self.args[:-1]):
            if a == name:
                return self.args[i + 1]
        return None

    @property
    def ports(self) -> set[int]:
        """Destination ports the rule matches (``--dport P``, ``--dport A:B``, ``--dports A,B``)."""
        found: set[int] = set()
        for name in ("--dport", "--dports", "--destination-port", "--destination-ports"):
            value = self.option(name)
            for part in (value or "").split(","):
                low, _, high = part.partition(":")
                if low.isdigit() and (not high or high.isdigit()):
                    found |= set(range(int(low), int(high or low) + 1))
        return found

    @property
    def owner(self) -> str | None:
        """The container id a Podman backend wrote in the rule's comment."""
        match = _OWNER.search(self.option("--comment") or "")
        return match.group(1) if match else None

    def text(self) -> str:
        """The rule exactly as ``iptables -S`` shows it."""
        return f"-t {self.table} -A {shlex.join(self.args)}"

    def remove_argv(self) -> list[str]:
        """The command that deletes exactly this rule."""
        return ["iptables", "-t", self.table, "-D", *self.args]


@dataclass(frozen=True)
class Blocking:
    """A rule that keeps Docker from serving *port*, and why."""

    rule: Rule
    port: int
    why: str

    def describe(self) -> str:
        removal = shlex.join(self.rule.remove_argv())
        return f"port {self.port}: {self.why}: `iptables {self.rule.text()}`; remove it: `{removal}`"


def parse_rules(table: str, text: str) -> list[Rule]:
    """The ``-A`` lines of ``iptables -t TABLE -S`` output (policies and ``-N`` lines are not rules)."""
    rules = []
    for line in text.splitlines():
        if not line.startswith("-A "):
            continue
        try:
            args = shlex.split(line)
        except ValueError:  # an unbalanced quote: not a line iptables wrote
            continue
        if len(args) >= 2:
            rules.append(Rule(table, tuple(args[1:])))
    return rules


def _known(owner: str, live_ids: Collection[str]) -> bool:
    return any(i.startswith(owner) or owner.startswith(i) for i in live_ids)


def blocking_rules(rules: Iterable[Rule], ports: Collection[int], live_ids: Collection[str] | None) -> list[Blocking]:
    """The rules that keep connections to *ports* from Docker's proxy.

    - nat: a rule in one of Podman's chains (``NETAVARK-*``, ``CNI-*``) for the port, naming a container
      that Podman no longer has (*live_ids*: every container id rootful Podman knows): left behind.
      *live_ids* None (rootful Podman did not answer): no NAT rule is judged, none is called stale.
      The jump carrying the comment is what sends the traffic away; that is the rule reported.
    - filter: ``DROP`` or ``REJECT`` on the port, whoever wrote it.
    """
    wanted = set(ports)
    found = []
    for rule in rules:
        hit = sorted(rule.ports & wanted)
        if not hit:
            continue
        target = rule.option("-j")
        if rule.table == "nat" and rule.chain.startswith(PODMAN_CHAINS):
            owner = rule.owner
            if live_ids is None or owner is None or _known(owner, live_ids):
                continue  # the per-container chain's own rules follow the jump; a live container's are its own
            why = f"Podman's NAT rule for container {owner[:12]}, which Podman no longer has, sends it elsewhere"
            found.append(Blocking(rule, hit[0], why))
        elif rule.table == "filter" and target in ("DROP", "REJECT"):
            found.append(Blocking(rule, hit[0], f"{target} in chain {rule.chain}"))
    return found


def chain_policy(chain: str, table: str = "filter") -> str | None:
    """The policy of a built-in *chain* (``ACCEPT``, ``DROP``); None when iptables cannot be read here
    (not installed, or not root)."""
    try:
        result = run(["iptables", "-w", "5", "-t", table, "-S", chain], timeout=30)
    except PodshiftError:  # no iptables on this host
        return None
    if not result.succeeded:
        return None
    for line in result.stdout.splitlines():
        parts = line.split()
        if parts[:2] == ["-P", chain] and len(parts) == 3:
            return parts[2]
    return None


def read_rules(table: str) -> list[Rule]:
    """The host's rules of *table* (empty when iptables is missing or cannot be read: nothing to report)."""
    try:
        result = run(["iptables", "-w", "5", "-t", table, "-S"], timeout=30)
    except PodshiftError:  # no iptables on this host
        return []
    return parse_rules(table, result.stdout) if result.succeeded else []


def rootful_podman_ids() -> set[str] | None:
    """Every container id root's Podman knows (running or not); None when it does not answer."""
    from podshift.runtimes.podman import PodmanRuntime

    runtime = PodmanRuntime.rootful()
    try:
        runtime.ping()
        return {str(c.id) for c in runtime.client.containers.list(all=True)}
    except Exception:
        return None
    finally:
        runtime.close()


def host_blocking_rules(ports: Collection[int]) -> list[Blocking]:
    """:func:`blocking_rules` on this host's nat and filter tables, against root's Podman's containers."""
    if not ports:
        return []
    rules = [*read_rules("nat"), *read_rules("filter")]
    if not rules:
        return []
    return blocking_rules(rules, ports, rootful_podman_ids())
