"""podman (rootless): what a normal user's Podman needs from this host."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from podshift.compose.model import ComposeProject
from podshift.images import ensure_helper_image
from podshift.probes import subid_ranges
from podshift.runtimes import DockerRuntime, Mount

pytestmark = [pytest.mark.prerequisites, pytest.mark.category("podman")]

SUBUID, SUBGID = Path("/etc/subuid"), Path("/etc/subgid")


@pytest.mark.check_id("rootless.subid-ranges")
@pytest.mark.severity("critical")
@pytest.mark.remediation("subuid-ranges")
def test_user_has_subordinate_id_ranges(rootless_user: str, thresholds, evidence) -> None:
    """The rootless user has sub-uid and sub-gid ranges large enough for containers."""
    for path in (SUBUID, SUBGID):
        ranges = subid_ranges(rootless_user, path)
        total = sum(r.count for r in ranges)
        evidence(str(path), ", ".join(f"{r.start}+{r.count}" for r in ranges) or "none")
        assert total >= thresholds.min_subids, (
            f"{rootless_user} has {total} ids in {path} (needs {thresholds.min_subids}): "
            f"`usermod --add-sub{'uids' if path == SUBUID else 'gids'} <start>-<end> {rootless_user}`, "
            "then `podman system migrate`"
        )


@pytest.mark.check_id("rootless.newuidmap-setuid")
@pytest.mark.severity("critical")
def test_newuidmap_and_newgidmap_are_setuid(rootless_user: str, evidence) -> None:
    """newuidmap and newgidmap are installed with their privilege (setuid or file capabilities)."""
    for tool in ("newuidmap", "newgidmap"):
        path = next((Path(d) / tool for d in ("/usr/bin", "/bin", "/usr/sbin") if (Path(d) / tool).exists()), None)
        assert path is not None, f"{tool} is missing: install the uidmap (Debian) / shadow-utils (RHEL) package"
        mode = path.stat().st_mode
        caps = os.getxattr(path, "security.capability") if "security.capability" in os.listxattr(path) else b""
        evidence(tool, f"{path} mode {stat.filemode(mode)}{' +caps' if caps else ''}")
        assert mode & stat.S_ISUID or caps, f"{path} is neither setuid nor has capabilities: `chmod u+s {path}`"


@pytest.mark.check_id("rootless.volume-owners-mapped")
@pytest.mark.severity("warning")
def test_volume_file_owners_fit_the_mapped_range(
    rootless_user: str, docker: DockerRuntime, project: ComposeProject, thresholds, evidence
) -> None:
    """Every owner id in the project's volumes maps into the rootless user's namespace."""
    mapped = min(
        sum(r.count for r in subid_ranges(rootless_user, SUBUID)),
        sum(r.count for r in subid_ranges(rootless_user, SUBGID)),
    )
    existing = {v.name for v in docker.project_volumes(project.name)}
    helper = ensure_helper_image(docker)
    too_big: list[str] = []
    for volume in sorted(set(project.named_volumes) & existing):
        out = docker.run(
            helper,
            ["sh", "-c", "find /v -exec stat -c '%u %g' {} + | sort -un"],
            mounts=[Mount(volume, "/v", read_only=True)],
        )
        ids = {int(x) for line in out.stdout.split("\n") for x in line.split() if x.isdigit()}
        evidence(volume, f"max id {max(ids, default=0)}")
        too_big += [f"{volume}: id {i}" for i in sorted(ids) if i > mapped]
    assert not too_big, (
        f"files owned by ids beyond the {mapped} ids mapped for {rootless_user} would be unreadable under "
        f"rootless Podman ({', '.join(too_big[:5])}): enlarge the user's /etc/subuid and /etc/subgid ranges"
    )


@pytest.mark.check_id("rootless.tun-device")
@pytest.mark.severity("critical")
@pytest.mark.remediation("dev-net-tun")
def test_tun_device_usable_for_rootless_ports(rootless_user: str, project: ComposeProject, evidence) -> None:
    """/dev/net/tun is usable by the rootless user (slirp4netns publishes ports through it)."""
    if not project.published_ports:
        pytest.skip("the project publishes no ports")
    tun = Path("/dev/net/tun")
    assert tun.exists(), "/dev/net/tun does not exist: `modprobe tun`"
    mode = tun.stat().st_mode
    evidence("/dev/net/tun", stat.filemode(mode))
    assert mode & 0o006 == 0o006, (
        f"/dev/net/tun is {stat.filemode(mode)}: rootless port publishing fails "
        '(slirp4netns: open("/dev/net/tun"): Permission denied); `chmod 0666 /dev/net/tun` '
        "and a udev rule to keep it"
    )


@pytest.mark.check_id("rootless.unprivileged-ports")
@pytest.mark.severity("critical")
@pytest.mark.remediation("unprivileged-port-start")
def test_published_ports_are_unprivileged(rootless_user: str, project: ComposeProject, host, evidence) -> None:
    """Every published port is at or above net.ipv4.ip_unprivileged_port_start."""
    start = int(host.sysctl("net.ipv4.ip_unprivileged_port_start"))
    evidence("ip_unprivileged_port_start", start)
    low = [
        f"{svc}:{p.published}" for svc, p in project.published_ports if p.published is not None and p.published < start
    ]
    assert not low, (
        f"rootless Podman cannot bind {', '.join(low)} (below ip_unprivileged_port_start={start}): "
        f"`sysctl -w net.ipv4.ip_unprivileged_port_start={min(int(x.split(':')[1]) for x in low)}` "
        "in /etc/sysctl.d/, or publish on a higher port"
    )


#: Capabilities a user namespace cannot give: they act on the host kernel, which only
#: the initial namespace's root controls.  Asking rootless Podman for them "works", and
#: the container then fails the first time it uses one.
HOST_ONLY_CAPABILITIES = frozenset(
    {
        "AUDIT_CONTROL",
        "AUDIT_READ",
        "BLOCK_SUSPEND",
        "LINUX_IMMUTABLE",
        "MAC_ADMIN",
        "MAC_OVERRIDE",
        "SYS_BOOT",
        "SYS_MODULE",
        "SYS_PACCT",
        "SYS_RAWIO",
        "SYS_RESOURCE",
        "SYS_TIME",
        "SYSLOG",
        "WAKE_ALARM",
    }
)


def _capability(name: str) -> str:
    return name.upper().removeprefix("CAP_")


@pytest.mark.check_id("rootless.capabilities")
@pytest.mark.severity("critical")
def test_cap_add_is_grantable_in_a_user_namespace(rootless_user: str, project: ComposeProject, evidence) -> None:
    """No service adds a capability a user namespace cannot grant (SYS_MODULE, SYS_TIME, ...)."""
    wanted = {s.name: [_capability(c) for c in s.raw.get("cap_add") or ()] for s in project.services.values()}
    evidence("cap_add", {k: v for k, v in wanted.items() if v} or "none")
    impossible = [
        f"{name}: {', '.join(c for c in caps if c in HOST_ONLY_CAPABILITIES or c == 'ALL')}"
        for name, caps in wanted.items()
        if any(c in HOST_ONLY_CAPABILITIES or c == "ALL" for c in caps)
    ]
    assert not impossible, (
        f"capabilities rootless Podman (user {rootless_user}) cannot grant — they act on the host kernel, "
        f"outside the user namespace: {'; '.join(impossible)} — drop them from cap_add, do that work on the host, "
        "or migrate this service to rootful Podman"
    )


@pytest.mark.check_id("rootless.sysctls")
@pytest.mark.severity("critical")
def test_sysctls_can_be_set_rootless(rootless_user: str, project: ComposeProject, podman_smoke, evidence) -> None:
    """Every sysctl a service sets can be set by rootless Podman (tried for real, in a throwaway container)."""
    from podshift.images import HELPER_IMAGE
    from podshift.probes import podman_cli

    if not podman_smoke.succeeded:
        pytest.skip("no container runs for the rootless user yet; see 'A container runs from a local image'")
    refused = []
    for service in project.services.values():
        sysctls = service.raw.get("sysctls") or {}
        for key, value in sysctls.items():
            result = podman_cli(
                "run", "--rm", "--pull=never", "--sysctl", f"{key}={value}", HELPER_IMAGE, "true",
                user=rootless_user, timeout=60,
            )  # fmt: skip
            evidence(f"{service.name} {key}={value}", "set" if result.succeeded else result.stderr.strip()[-200:])
            if not result.succeeded:
                lines = result.stderr.strip().splitlines() or ["refused"]
                refused.append(f"{service.name}: {key}={value} ({lines[-1][-160:]})")
    assert not refused, (
        f"sysctls rootless Podman (user {rootless_user}) cannot set: {'; '.join(refused)} — only namespaced "
        "sysctls (net.*, kernel.shm*/msg*/sem, fs.mqueue.*) can be set without root: set the others on the host "
        "(`sysctl -w`, /etc/sysctl.d/) and drop them from the compose file, or migrate this service to rootful Podman"
    )
