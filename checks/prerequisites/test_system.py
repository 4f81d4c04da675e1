"""system: the operating system, kernel, memory and disk of this host."""

from __future__ import annotations

import platform
import shutil
from pathlib import Path

import pytest

from podshift.compose.model import ComposeProject
from podshift.probes import dir_size
from podshift.runtimes import DockerRuntime

pytestmark = [pytest.mark.prerequisites, pytest.mark.category("system")]

SUPPORTED = {"rhel", "centos", "rocky", "almalinux", "ol", "fedora", "debian", "ubuntu"}


def _gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB"


@pytest.mark.check_id("system.os-supported")
@pytest.mark.severity("warning")
def test_operating_system_is_supported(evidence) -> None:
    """The distribution is one podshift supports (RHEL family, Fedora, Debian, Ubuntu)."""
    assert platform.system() == "Linux", f"{platform.system()} is not Linux: Podman migrations need a Linux host"
    release = platform.freedesktop_os_release()
    ids = {release.get("ID", "")} | set(release.get("ID_LIKE", "").split())
    evidence("os-release", release.get("PRETTY_NAME", "?"))
    assert ids & SUPPORTED, (
        f"{release.get('PRETTY_NAME', 'this distribution')} is not a tested distribution "
        f"({', '.join(sorted(SUPPORTED))}); podshift may work, but nothing is proven here"
    )


@pytest.mark.check_id("system.user-namespaces")
@pytest.mark.severity("critical")
def test_kernel_allows_user_namespaces(evidence) -> None:
    """The kernel allows user namespaces (rootless Podman needs them)."""
    limit_file = Path("/proc/sys/user/max_user_namespaces")
    limit = int(limit_file.read_text()) if limit_file.exists() else 0
    evidence("kernel", platform.release())
    evidence("max_user_namespaces", limit)
    assert limit > 0, (
        f"user namespaces are disabled (user.max_user_namespaces = {limit}): "
        "run `sysctl -w user.max_user_namespaces=15000` and persist it in /etc/sysctl.d/"
    )
    clone = Path("/proc/sys/kernel/unprivileged_userns_clone")
    if clone.exists():
        assert clone.read_text().strip() == "1", (
            "unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone = 0): "
            "`sysctl -w kernel.unprivileged_userns_clone=1`"
        )


@pytest.mark.check_id("system.memory")
@pytest.mark.severity("warning")
def test_enough_memory(host, thresholds, evidence) -> None:
    """The host has enough memory to run both engines during the migration."""
    meminfo = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines() if ":" in line)
    total_mb = int(meminfo["MemTotal"].split()[0]) // 1024
    evidence("MemTotal", f"{total_mb} MiB")
    assert total_mb >= thresholds.min_memory_mb, (
        f"only {total_mb} MiB of memory (at least {thresholds.min_memory_mb} MiB recommended): "
        "both engines run side by side while the migration is verified"
    )


def _volume_bytes(docker: DockerRuntime, project: ComposeProject) -> int:
    sizes = docker.volume_sizes()
    return sum(sizes.get(name, 0) for name in project.named_volumes)


@pytest.mark.check_id("system.backup-space")
@pytest.mark.severity("critical")
def test_backup_location_has_space(project: ComposeProject, docker: DockerRuntime, thresholds, evidence) -> None:
    """There is room for the backup next to the project (config + volume data, with margin)."""
    config = dir_size(project.project_dir)
    data = _volume_bytes(docker, project) + sum(dir_size(p) for p in project.bind_sources if p.is_dir())
    need = int((config + data) * thresholds.backup_space_factor)
    free = shutil.disk_usage(project.project_dir).free
    evidence("config", _gib(config))
    evidence("volume and bind data", _gib(data))
    evidence("free", _gib(free))
    assert free >= need, (
        f"{_gib(free)} free on the filesystem of {project.project_dir}, the backup needs {_gib(need)} "
        f"({thresholds.backup_space_factor}x the {_gib(config + data)} of configuration and data): free space first"
    )


@pytest.mark.check_id("system.podman-storage-space")
@pytest.mark.severity("critical")
def test_podman_storage_has_space(project: ComposeProject, docker: DockerRuntime, podman_info, evidence) -> None:
    """Podman's storage has room for the project's volume data."""
    graph_root = Path(podman_info["store"]["graphRoot"])
    existing = next((p for p in (graph_root, *graph_root.parents) if p.exists()), Path("/"))
    free = shutil.disk_usage(existing).free
    data = _volume_bytes(docker, project)
    evidence("graphRoot", graph_root)
    evidence("free", _gib(free))
    assert free >= data, (
        f"Podman's storage at {graph_root} has {_gib(free)} free; the project's volumes hold {_gib(data)}"
    )
