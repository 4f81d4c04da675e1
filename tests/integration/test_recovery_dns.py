"""A stale aardvark-dns file induced for real on a throwaway user (never the shared rootless user).

Seen on this host (Podman 4.3.1, aardvark-dns 1.4): a container whose start fails
after netavark set up its network (rootlessport refusing privileged port 80)
keeps its entry in ``$XDG_RUNTIME_DIR/containers/networks/aardvark-dns/<network>``
after the container and the network are removed.  The user's next network gets
the same gateway 10.89.0.1 and its containers cannot resolve each other (NXDOMAIN,
at random per reload of aardvark-dns; a timeout when the failed container's bridge also stayed
in the rootless netns).
``podshift recover network-issues`` must name the file, remove it, and the
services must resolve each other by name again.  User and all of it go in teardown.
"""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from podshift.images import HELPER_IMAGE, ensure_helper_image
from podshift.recovery.dns import aardvark_dir, aardvark_pid
from podshift.runtimes import PodmanRuntime

from .test_recovery import assert_nothing_to_do, recover
from .test_recovery_users import _throwaway_user, api_of, web_client_stack

pytestmark = [
    pytest.mark.xdist_group("users"),
    pytest.mark.skipif(os.geteuid() != 0, reason="adds a user: run as root (CI does)"),
]


@pytest.fixture
def dns_user_api() -> Iterator[PodmanRuntime]:
    for user in _throwaway_user(drop_subids=False, prefix="s5-d"):
        yield from api_of(user)


# Both networks get the same gateway, as the user's next network did on the host.  Explicitly: Podman's own
# pick (10.89.0.0/24 first) skips a subnet any host interface holds, and a rootful network another test
# created meanwhile once gave the two networks different ones (CI).  No other test uses this one.
SUBNET = "10.231.57.0/24"


def _leave_a_stale_dns_file(runtime: PodmanRuntime, bridge: str | None) -> Path:
    """A network, a container on it whose start fails (privileged port), both removed: the file stays.

    With *bridge*, the gone network had that interface name: its bridge stays in the rootless netns next
    to the new network's, both with 10.89.0.1 (seen here when another network had taken ``podman1``).
    """
    assert runtime.run_as is not None
    net = f"s5-gone-{uuid.uuid4().hex[:6]}"
    runtime.cli("network", "create", "--subnet", SUBNET, net).check()
    if bridge:  # Podman 4.3 has no --interface-name: its network file (the throwaway user's) names the bridge
        config = Path(runtime.run_as.home) / ".local/share/containers/storage/networks" / f"{net}.json"
        attrs = json.loads(config.read_text())
        attrs["network_interface"] = bridge
        config.write_text(json.dumps(attrs))
        assert runtime.cli("network", "inspect", net, "--format", "{{.NetworkInterface}}").stdout.strip() == bridge
    failed = runtime.cli(
        "run", "-d", "--pull=never", "--name", f"{net}-c", "--network", net, "-p", "127.0.0.1:80:8000",
        HELPER_IMAGE, "sleep", "300",
    )  # fmt: skip
    assert "rootlessport cannot expose privileged port 80" in failed.stderr, failed
    runtime.cli("rm", "-f", f"{net}-c").check()
    runtime.cli("network", "rm", net).check()
    stale = Path(runtime.run_as.runtime_dir) / "containers" / "networks" / "aardvark-dns" / net
    assert stale.is_file(), "the failed start left no aardvark-dns file: the failure was not induced"
    return stale


def _resolves(runtime: PodmanRuntime, client: str, *, attempts: int, until: bool) -> bool:
    """Reload aardvark-dns and look ``web`` up from *client*, *attempts* times.

    ``until=False``: False as soon as one lookup fails (True: none did);
    ``until=True``: True only when every lookup succeeded.
    """
    assert runtime.run_as is not None
    directory = aardvark_dir(runtime)
    for _ in range(attempts):
        pid = aardvark_pid(directory, runtime.run_as.uid)
        assert pid is not None, "aardvark-dns is not running for the user"
        os.kill(pid, signal.SIGHUP)
        time.sleep(0.5)
        ok = runtime.exec(client, ["nslookup", "web"]).rc == 0
        if not ok:
            return False
    return True


@pytest.mark.parametrize("bridge", [None, "s5stale0"], ids=["same-bridge", "leftover-bridge"])
def test_network_issues_removes_a_stale_aardvark_dns_file(dns_user_api: PodmanRuntime, bridge: str | None) -> None:
    runtime = dns_user_api
    assert runtime.run_as is not None
    user = runtime.run_as.user
    ensure_helper_image(runtime)
    stale = _leave_a_stale_dns_file(runtime, bridge)
    with web_client_stack(runtime, "s5-dns", subnet=SUBNET) as stack:
        name = stack.project.name
        client = f"{name}_client_1"
        gateway = runtime.cli(
            "network", "inspect", f"{name}_default", "--format", "{{range .Subnets}}{{.Gateway}}{{end}}"
        )
        assert gateway.stdout.strip() == stale.read_text().splitlines()[0], "the new network got another gateway"
        # The symptom: the services cannot resolve each other by name.  Which of the two files aardvark-dns
        # serves 10.89.0.1 from is random per (re)load (seen: about half of them), and every container the
        # user starts or stops reloads it: reload (SIGHUP, as netavark does) until a lookup fails.
        assert not _resolves(runtime, client, attempts=16, until=False), "aardvark-dns never lost the names"

        found = recover(stack, "diagnose", "--rootless-user", user)
        assert found.rc == 1, found.out
        check = found.check("test_no_stale_dns_files")
        assert check["outcome"] == "failed"
        assert f"{stale} belongs to network {stale.name}, which no longer exists" in check["message"]
        assert "podshift recover network-issues" in check["message"]

        planned = recover(stack, "network-issues", "--rootless-user", user, "--dry-run")
        assert planned.rc == 0, planned.out
        assert f"$ rm {stale}" in planned.plans, planned.plans
        assert stale.is_file(), "--dry-run removed the file"

        fixed = recover(stack, "network-issues", "--rootless-user", user)
        assert fixed.rc == 0, fixed.out
        assert f"removed the stale file(s): {stale}" in fixed.out + fixed.log
        if bridge:
            assert f"deleted the leftover bridge(s) {bridge} in the rootless netns" in fixed.out + fixed.log
            links = runtime.cli("unshare", "--rootless-netns", "ip", "-br", "link").stdout
            assert bridge not in links.split(), links
        assert fixed.check("test_no_stale_dns_files")["outcome"] == "passed"
        assert fixed.check("test_services_reach_each_other")["outcome"] == "passed"
        assert not stale.exists()
        assert runtime.exec(client, ["wget", "-qO-", "http://web:8000/health"]).stdout.strip() == "ok"
        assert _resolves(runtime, client, attempts=6, until=True), "a reload of aardvark-dns lost the names again"
        assert_nothing_to_do(stack, "network-issues", "--rootless-user", user)
