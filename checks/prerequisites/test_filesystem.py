"""filesystem: the project, its bind mounts and the backup location, as the Podman user sees them."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from podshift.compose.model import ComposeProject
from podshift.probes import can_access, run

pytestmark = [pytest.mark.prerequisites, pytest.mark.category("filesystem")]

BACKUP_DIR = ".docker-backup"
DOCKER_SOCKETS = {"/var/run/docker.sock", "/run/docker.sock"}


@pytest.mark.check_id("filesystem.project-readable")
@pytest.mark.severity("critical")
def test_project_files_are_readable(project: ComposeProject, podman_user: str, evidence) -> None:
    """The project directory and its compose files are readable by the Podman user."""
    unreadable = [
        str(f) for f in (project.project_dir, *project.compose_files) if not can_access(f, podman_user, os.R_OK)
    ]
    evidence("compose files", ", ".join(map(str, project.compose_files)))
    assert not unreadable, f"{podman_user} cannot read {', '.join(unreadable)}: fix their permissions"


@pytest.mark.check_id("filesystem.backup-dir-usable")
@pytest.mark.severity("critical")
@pytest.mark.remediation("backup-dir")
def test_backup_directory_is_usable(project: ComposeProject, evidence) -> None:
    """The backup directory exists or can be created, and is private (0700)."""
    backup = project.project_dir / BACKUP_DIR
    if not backup.exists():
        evidence("backup dir", f"{backup} (to be created)")
        assert os.access(project.project_dir, os.W_OK | os.X_OK), (
            f"cannot create {backup}: {project.project_dir} is not writable by this user"
        )
        return
    mode = stat.S_IMODE(backup.stat().st_mode)
    evidence("backup dir", f"{backup} mode {mode:04o}")
    assert backup.is_dir(), f"{backup} exists but is not a directory: move it away"
    assert os.access(backup, os.W_OK | os.X_OK), f"{backup} is not writable by this user"
    assert mode & 0o077 == 0, f"{backup} is mode {mode:04o}: backups hold secrets, `chmod 0700 {backup}`"


@pytest.mark.check_id("filesystem.bind-mounts-accessible")
@pytest.mark.severity("critical")
@pytest.mark.remediation("bind-mount-permissions")
def test_bind_mount_sources_exist_and_are_accessible(project: ComposeProject, podman_user: str, evidence) -> None:
    """Every bind-mount source exists and the Podman user can reach it."""
    creatable = {
        Path(m.source) for s in project.services.values() for m in s.mounts if m.type == "bind" and m.create_host_path
    }
    problems = []
    for source in project.bind_sources:
        if str(source) in DOCKER_SOCKETS:
            # The migration points it at the target Podman's own API socket (security.no-docker-socket
            # warns about it): Docker's socket is never what the Podman user mounts.
            evidence(str(source), "Docker's socket: the migration mounts the Podman socket instead")
            continue
        evidence("bind", source)
        if not source.exists():
            parent = next(p for p in source.parents if p.exists())
            if source in creatable and can_access(parent, podman_user, os.W_OK):
                evidence(str(source), f"missing; the Compose tool creates it (under {parent})")
                continue
            problems.append(
                f"{source} does not exist"
                + (f" and {podman_user} cannot create it in {parent}" if source in creatable else "")
            )
        elif not can_access(source, podman_user, os.R_OK):
            problems.append(f"{source} is not readable by {podman_user}")
        elif source.is_dir() and not can_access(source, podman_user, os.X_OK):
            problems.append(f"{source} cannot be entered by {podman_user}")
    assert not problems, "bind mounts: " + "; ".join(problems) + " — create them or fix their permissions"


@pytest.mark.check_id("filesystem.selinux-labels")
@pytest.mark.severity("warning")
def test_bind_mounts_are_labelled_for_selinux(project: ComposeProject, evidence) -> None:
    """Bind mounts carry :z/:Z labels when SELinux is enforcing."""
    getenforce = run(["getenforce"]) if Path("/sys/fs/selinux").exists() else None
    mode = getenforce.stdout.strip() if getenforce and getenforce.succeeded else "Disabled"
    evidence("SELinux", mode)
    if mode != "Enforcing":
        return
    unlabelled = [
        f"{s.name}:{m.source}"
        for s in project.services.values()
        for m in s.mounts
        if m.type == "bind" and not m.selinux
    ]
    assert not unlabelled, (
        f"SELinux is enforcing and these bind mounts have no :z/:Z label, so containers cannot read them "
        f"under Podman: {', '.join(unlabelled)} — add `:z` (shared) or `:Z` (private) to each"
    )
