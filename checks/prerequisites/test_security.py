"""security: privilege, MAC systems and what the compose file asks of the engine."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from podshift.compose.model import ComposeProject
from podshift.engines import ROOTLESS_USER_ENV

pytestmark = [pytest.mark.prerequisites, pytest.mark.category("security")]

DOCKER_SOCKETS = {"/var/run/docker.sock", "/run/docker.sock"}


@pytest.mark.check_id("security.normal-user")
@pytest.mark.severity("warning")
def test_podshift_runs_as_a_normal_user(podman_user: str, evidence) -> None:
    """The project moves to rootless Podman (podshift runs as that user, or as root for $PODSHIFT_ROOTLESS_USER)."""
    evidence("euid", os.geteuid())
    evidence("Podman user", podman_user)
    assert podman_user != "root", (
        f"running as root: the project would move to rootful Podman; run podshift as the user who will own "
        f"the containers, or set {ROOTLESS_USER_ENV}=USER, for a rootless migration"
    )


@pytest.mark.check_id("security.mac-state")
@pytest.mark.severity("info")
def test_mandatory_access_control_state(evidence) -> None:
    """SELinux and AppArmor state (they change what bind mounts need)."""
    selinux = "Disabled"
    if Path("/sys/fs/selinux/enforce").exists():
        selinux = "Enforcing" if Path("/sys/fs/selinux/enforce").read_text().strip() == "1" else "Permissive"
    apparmor_file = Path("/sys/module/apparmor/parameters/enabled")
    apparmor = "enabled" if apparmor_file.exists() and apparmor_file.read_text().strip() == "Y" else "disabled"
    evidence("SELinux", selinux)
    evidence("AppArmor", apparmor)
    neither_enforces = selinux != "Enforcing" and apparmor != "enabled"
    assert neither_enforces, (
        f"SELinux {selinux}, AppArmor {apparmor}: Podman applies its own labels/profiles; "
        "bind mounts may need :z/:Z and custom profiles must exist for Podman too"
    )


@pytest.mark.check_id("security.no-docker-socket")
@pytest.mark.severity("warning")
def test_no_service_mounts_the_docker_socket(project: ComposeProject, evidence) -> None:
    """No service mounts the Docker socket."""
    users = [
        f"{s.name} ({m.source})"
        for s in project.services.values()
        for m in s.mounts
        if m.type == "bind" and m.source in DOCKER_SOCKETS
    ]
    evidence("docker socket consumers", users or "none")
    assert not users, (
        f"{', '.join(users)} mount the Docker socket: under Podman mount the Podman socket "
        "($XDG_RUNTIME_DIR/podman/podman.sock or /run/podman/podman.sock) at the same path"
    )


@pytest.mark.check_id("security.no-privileged-rootless")
@pytest.mark.severity("warning")
def test_no_privileged_containers_under_rootless(project: ComposeProject, podman_user: str, evidence) -> None:
    """No service needs privileged mode under rootless Podman."""
    privileged = [s.name for s in project.services.values() if s.privileged]
    evidence("privileged services", privileged or "none")
    if podman_user == "root":
        return
    assert not privileged, (
        f"{', '.join(privileged)} run privileged: rootless Podman grants only the user's own privileges, "
        "so devices and kernel settings they rely on will not be there; drop privileged or stay rootful"
    )
