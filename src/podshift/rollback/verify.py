"""What proves a rollback: each function returns the problems found (empty: proven).

The ``post_rollback`` checks assert these one by one; the cleanup step runs
them all first and refuses to delete anything on the Podman side unless every
one holds.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from podshift.backup.store import BackupStore
from podshift.backup.tarscan import file_chunks
from podshift.compose.model import ComposeProject
from podshift.ports import docker_published, holders, listening
from podshift.rollback.podman_side import find_project
from podshift.rollback.snapshot import PodmanSnapshot
from podshift.rollback.volumes import compare_since, read_entries
from podshift.runtimes.docker import DockerRuntime
from podshift.runtimes.podman import PodmanRuntime
from podshift.steps import StepJournal

#: Journal keys the steps write and the checks read.
MIGRATE_DATA, START_DOCKER = "migrate-data", "start-docker"


@dataclass(frozen=True)
class RollbackRecord:
    """What the rollback journal says the data steps did."""

    keep_data: bool
    docker_started_at: float | None

    @classmethod
    def read(cls, project_dir: Path) -> RollbackRecord:
        journal = StepJournal.open(project_dir, "rollback")
        started = journal.data(START_DOCKER).get("started_at")
        return cls(
            keep_data=bool(journal.data(MIGRATE_DATA).get("keep_data", False)),
            docker_started_at=float(started) if isinstance(started, int | float) else None,
        )


def config_problems(store: BackupStore) -> list[str]:
    """Every backed-up configuration file is in place, byte-identical, with its mode and mtime."""
    problems = []
    for c in store.manifest().config:
        path = Path(c.source)
        try:
            st = os.stat(path, follow_symlinks=False)
        except OSError:
            problems.append(f"missing {path}")
            continue
        digest = hashlib.sha256()
        for chunk in file_chunks(str(path)):
            digest.update(chunk)
        if digest.hexdigest() != c.sha256:
            problems.append(f"{path}: content differs from the backup")
        elif st.st_mode & 0o7777 != c.mode:
            problems.append(f"{path}: mode {st.st_mode & 0o7777:04o}, backup {c.mode:04o}")
        elif abs(st.st_mtime_ns - c.exact_mtime_ns) > 1_000_000:
            problems.append(f"{path}: mtime differs from the backup")
    return problems


def reference_for(project_dir: Path, volume: str, keep_data: bool) -> tuple[str, BackupStore] | None:
    """Where *volume*'s expected content is recorded: the snapshot (--keep-data, when Podman had it), or the backup."""
    if keep_data:
        snapshot = PodmanSnapshot(project_dir)
        if snapshot.exists() and snapshot.archive_of(volume) is not None:
            return "the Podman snapshot", snapshot
    backup = BackupStore(project_dir)
    if backup.exists() and any(a.kind == "volume" and a.name == volume for a in backup.manifest().archives):
        return "the backup", backup
    return None


def volume_problems(docker: DockerRuntime, project: ComposeProject, record: RollbackRecord) -> list[str]:
    """Each named volume under Docker holds what the snapshot (--keep-data) or the backup recorded.

    Changes the running application made after Docker started it again are not
    differences (see :func:`~podshift.rollback.volumes.compare_since`).
    """
    problems = []
    for volume in project.named_volumes:
        reference = reference_for(project.project_dir, volume, record.keep_data)
        if reference is None:
            continue  # nothing recorded to compare with (a configuration-only backup)
        label, store = reference
        archive = next(a for a in store.manifest().archives if a.kind == "volume" and a.name == volume)
        if docker.volume(volume) is None:
            problems.append(f"{volume}: no such Docker volume")
            continue
        difference = compare_since(archive.entries, read_entries(docker, volume), record.docker_started_at)
        if difference:
            problems.append(f"{volume} differs from {label}: {difference}")
    return problems


def podman_problems(podman: PodmanRuntime, project: ComposeProject) -> list[str]:
    """No container of the project is left under Podman."""
    left = find_project(podman, project.name)
    return [f"{c.name} ({c.status}) is still on {podman.label}" for c in left.containers]


def port_problems(docker: DockerRuntime, project: ComposeProject) -> list[str]:
    """Every published port is held by Docker (its proxy) and by nothing else."""
    bound = docker_published(docker, project.name)
    problems = []
    for service, p in project.published_ports:
        if p.protocol != "tcp" or p.published is None:
            continue
        if p.published not in bound:
            problems.append(f"{service}: port {p.published} is not published by Docker")
            continue
        others = [h for h in holders(p.published) if not h.is_docker]
        if others:
            problems.append(f"{service}: port {p.published} is also held by {', '.join(h.who() for h in others)}")
        elif not listening(p.published):
            problems.append(f"{service}: nothing listens on port {p.published}")
    return problems
