"""podman: the target engine can really run this project's containers here."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from podshift.commands import CommandResult
from podshift.compose.tools import compose_tools, podman_compose_argv, users_podman_compose
from podshift.engines import podman_runtime_for
from podshift.errors import EngineUnavailable, ToolMissing
from podshift.probes import containers_conf, hard_limit, parse_ulimit, podman_cli
from podshift.recovery.permissions import pause_process_problem

from ..conftest import version_tuple

pytestmark = [pytest.mark.prerequisites, pytest.mark.category("podman")]

CRUN_CGROUP_SIGNATURE = "cgroups in hybrid mode not supported"
RLIMIT_SIGNATURE = "setrlimit"


@pytest.mark.check_id("podman.installed")
@pytest.mark.severity("critical")
def test_podman_is_installed(podman_user: str, thresholds, evidence) -> None:
    """Podman is installed and recent enough."""
    assert shutil.which("podman"), "podman is not installed: `dnf install podman` / `apt-get install podman`"
    result = podman_cli("version", "--format", "json", user=podman_user)
    lost = pause_process_problem(result.stderr) if result.rc else None
    assert lost is None, f"{lost}; do: `podshift recover permission-issues --rootless-user {podman_user}`"
    assert result.rc == 0, f"`podman version` failed for {podman_user}: {result.stderr.strip()}"
    version = json.loads(result.stdout)["Client"]["Version"]
    evidence("podman", version)
    want = ".".join(map(str, thresholds.min_podman))
    assert version_tuple(version) >= thresholds.min_podman, f"Podman {version} is older than {want}: upgrade it"


@pytest.mark.check_id("podman.compose-provider")
@pytest.mark.severity("critical")
def test_compose_provider_is_installed(evidence) -> None:
    """A compose provider for Podman (podman-compose) is available to podshift."""
    try:
        evidence("podshift uses", " ".join(podman_compose_argv()))
    except ToolMissing as e:
        pytest.fail(str(e), pytrace=False)
    evidence("on your PATH", users_podman_compose() or "none")


@pytest.mark.check_id("podman.compose-provider-on-path")
@pytest.mark.severity("info")
def test_compose_provider_is_on_the_users_path(evidence) -> None:
    """You have podman-compose on your PATH (to manage the migrated stack by hand)."""
    try:
        tools = compose_tools("podman")
    except ToolMissing:
        pytest.skip("podshift has none either; see 'A compose provider for Podman ...'")
    evidence("podshift uses", tools.podshift_uses)
    evidence("on your PATH", tools.on_users_path or "none")
    assert tools.on_users_path, (
        f"podshift uses {tools.podshift_uses} (its own copy); you have no {tools.name} on your PATH — to run the "
        "stack by hand `pip install --user podman-compose` (or your distribution's package), or call "
        "podshift's copy by its path"
    )


# Ulimits first: crun fails on setrlimit before it reaches the cgroup layout,
# so the runtime problem only shows once the ulimits are fixed.
@pytest.mark.check_id("podman.default-ulimits")
@pytest.mark.severity("critical")
@pytest.mark.remediation("default-ulimits")
def test_default_ulimits_can_be_set(podman_smoke: CommandResult, podman_user: str, evidence) -> None:
    """Podman's default ulimits are within what this host allows."""
    configured = containers_conf(podman_user).get("containers", {}).get("default_ulimits", [])
    evidence("default_ulimits", configured or "(Podman's defaults)")
    too_high = []
    for spec in configured:
        name, _soft, hard = parse_ulimit(spec)
        limit = hard_limit(name) if name in ("nofile", "nproc") else None
        if limit is not None and hard > limit:
            too_high.append(f"{name} hard {hard} > host limit {limit}")
    detail = "; ".join(too_high) or (podman_smoke.stderr.strip().splitlines() or ["no error"])[-1]
    settable = not too_high and RLIMIT_SIGNATURE not in podman_smoke.stderr
    assert settable, (
        f"containers cannot get Podman's default ulimits here ({detail}): set default_ulimits under "
        f"[containers] in containers.conf to at most the hard limits (nofile {hard_limit('nofile')}, "
        f"nproc {hard_limit('nproc')})"
    )


@pytest.mark.check_id("podman.oci-runtime")
@pytest.mark.severity("critical")
@pytest.mark.remediation("select-oci-runtime")
def test_oci_runtime_works_with_this_cgroup_layout(podman_smoke: CommandResult, podman_user: str, evidence) -> None:
    """Podman's OCI runtime can start a container on this host's cgroup layout."""
    runtime = containers_conf(podman_user).get("engine", {}).get("runtime", "(Podman's default: crun)")
    evidence("configured runtime", runtime)
    hybrid = Path("/sys/fs/cgroup/unified").is_dir()
    evidence(
        "cgroup layout",
        "v1 hybrid" if hybrid else "unified v2" if Path("/sys/fs/cgroup/cgroup.controllers").exists() else "v1",
    )
    assert CRUN_CGROUP_SIGNATURE not in podman_smoke.stderr, (
        f"the OCI runtime {runtime} refuses this host's cgroup v1 hybrid layout "
        f'({CRUN_CGROUP_SIGNATURE}): set `runtime = "runc"` under [engine] in containers.conf'
    )


@pytest.mark.check_id("podman.container-runs")
@pytest.mark.severity("critical")
def test_a_container_runs_from_a_local_image(podman_smoke: CommandResult, evidence) -> None:
    """A container runs under Podman from a local image (no registry involved)."""
    evidence("rc", podman_smoke.rc)
    assert podman_smoke.rc == 0, f"`podman run` of a local image failed: {podman_smoke.stderr.strip()[-600:]}"


@pytest.mark.check_id("podman.network-dns")
@pytest.mark.severity("critical")
def test_network_backend_gives_container_dns(podman_info, evidence) -> None:
    """Podman's network backend resolves container names (the services find each other)."""
    backend = podman_info["host"].get("networkBackend") or "cni"  # Podman 3 has no such key: CNI
    evidence("network backend", backend)
    if backend == "netavark":
        candidates = [
            Path(d) / "aardvark-dns" for d in ("/usr/libexec/podman", "/usr/lib/podman", "/usr/local/libexec/podman")
        ]
        found = [str(p) for p in candidates if p.exists()] or (
            [shutil.which("aardvark-dns")] if shutil.which("aardvark-dns") else []
        )
        evidence("aardvark-dns", found or "missing")
        assert found, "netavark is in use but aardvark-dns is missing: install aardvark-dns"
    else:
        plugin = [
            p for p in ("/usr/libexec/cni/dnsname", "/usr/lib/cni/dnsname", "/opt/cni/bin/dnsname") if Path(p).exists()
        ]
        evidence("dnsname plugin", plugin or "missing")
        assert plugin, (
            f"the {backend} backend has no dnsname plugin: install podman-plugins (dnsname) or switch to netavark"
        )


@pytest.mark.check_id("podman.api-socket")
@pytest.mark.severity("warning")
@pytest.mark.remediation("start-podman-socket")
def test_podman_api_socket_answers(podman_user: str, evidence) -> None:
    """Podman's API socket answers (tools that spoke to the Docker socket need it)."""
    runtime = podman_runtime_for(podman_user)
    evidence("socket", runtime.socket)
    try:
        runtime.ping()
    except EngineUnavailable as e:
        pytest.fail(str(e), pytrace=False)
    finally:
        runtime.close()
