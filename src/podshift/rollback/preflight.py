"""``podshift rollback --verify-only``: can this rollback run here?  Reads only; changes nothing.

The backup verifies, Docker answers, there is room for the snapshot and the
copy, every published port is free or held only by the project's own
containers (Podman's, which step 1 stops; or Docker's, when it is already back),
and no iptables rule would send a published port away from Docker.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from podshift.backup.store import BackupStore, verify_dir
from podshift.compose.model import ComposeProject
from podshift.errors import EngineUnavailable, PodshiftError
from podshift.firewall import host_blocking_rules
from podshift.ports import docker_published, holders
from podshift.rollback.podman_side import find_project
from podshift.runtimes.docker import DockerRuntime
from podshift.runtimes.podman import PodmanRuntime


@dataclass(frozen=True)
class Finding:
    ok: bool
    what: str
    detail: str

    def render(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'}  {self.what}: {self.detail}"


def _free(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


def prerequisites(
    project: ComposeProject, docker: DockerRuntime, podman: PodmanRuntime, *, keep_data: bool
) -> list[Finding]:
    """Every prerequisite of a rollback of *project*, each with what was found."""
    findings: list[Finding] = []
    store = BackupStore(project.project_dir)
    if not store.exists():
        findings.append(Finding(False, "backup", f"Backup directory not found: {store.path}; "
                                "create one with `podshift backup`"))  # fmt: skip
    else:
        problems = verify_dir(store.path, deep=False)
        detail = f"{store.path} verifies" if not problems else f"does not verify: {'; '.join(problems[:5])}"
        findings.append(Finding(not problems, "backup", detail))

    try:
        docker.ping()
        findings.append(Finding(True, "docker", f"answers ({docker.version()[0]})"))
        docker_up = True
    except EngineUnavailable as e:
        findings.append(Finding(False, "docker", str(e)))
        docker_up = False

    running_on_podman = False
    try:
        podman.ping()
        found = find_project(podman, project.name)
        running_on_podman = bool(found.running)
        sizes = podman.volume_sizes()
        data = sum(sizes.get(v.name, 0) for v in found.volumes)
        findings.append(Finding(True, "podman", f"{podman.label}: {found.describe()}, {_mib(data)} of volume data"))
        # The snapshot goes next to the backup; with --keep-data the same again into Docker's volumes.
        base = store.path if store.path.is_dir() else project.project_dir
        free = _free(base)
        room = f"{_mib(data)} needed, {_mib(free)} free at {base}"
        findings.append(Finding(free >= data, "disk space (snapshot)", room))
        if keep_data and docker_up:
            root = Path(str(docker.client.info().get("DockerRootDir", "/var/lib/docker")))
            if root.is_dir():
                space = _free(root)
                findings.append(
                    Finding(space >= data, "disk space (copy)", f"{_mib(data)} needed, {_mib(space)} free at {root}")
                )
    except EngineUnavailable as e:
        # Without Podman the rollback restores the backup's data; --keep-data needs it.
        findings.append(Finding(not keep_data, "podman", f"does not answer: {e.reason}"))
    except (OSError, PodshiftError) as e:
        findings.append(Finding(False, "podman", str(e)))

    ours_docker = docker_published(docker, project.name) if docker_up else set()
    for service, p in project.published_ports:
        if p.published is None or p.protocol != "tcp":
            continue
        held = holders(p.published)
        what = f"port {p.published} ({service})"
        if not held:
            findings.append(Finding(True, what, "free"))
        elif all(h.is_podman for h in held) and running_on_podman:
            findings.append(Finding(True, what, f"held by the project's Podman containers ({held[0].who()})"))
        elif all(h.is_docker for h in held) and p.published in ours_docker:
            findings.append(Finding(True, what, "held by the project's Docker containers (already back)"))
        else:
            findings.append(Finding(False, what, f"held by {', '.join(h.who() for h in held)}"))
    # iptables rules that would send the ports away from Docker's proxy (Podman's leftovers, DROP/REJECT).
    ports = {p.published for _, p in project.published_ports if p.published is not None and p.protocol == "tcp"}
    for blocking in host_blocking_rules(ports):
        findings.append(Finding(False, f"port {blocking.port} (firewall)", blocking.describe()))
    return findings
