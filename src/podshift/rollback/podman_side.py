"""The project as it runs on Podman: find it, and take it down without touching its volumes.

A project gets to Podman in several ways — ``podshift migrate``, a plain
``podman-compose up`` (which may put every container in ``pod_<project>``),
or containers made by hand with the compose labels — so nothing here relies
on podshift's own journal: the project's objects are found by the compose
project labels podman-compose sets (``com.docker.compose.project`` and
``io.podman.compose.project``), on the rootful engine or a rootless user's.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from podshift.errors import EngineError
from podshift.runtimes.base import ContainerInfo, NetworkInfo, VolumeInfo
from podshift.runtimes.podman import PodInfo, PodmanRuntime

log = logging.getLogger("podshift.rollback")


@dataclass(frozen=True)
class PodmanProject:
    """What of one compose project exists on one Podman engine."""

    containers: tuple[ContainerInfo, ...]
    pods: tuple[PodInfo, ...]
    networks: tuple[NetworkInfo, ...]
    volumes: tuple[VolumeInfo, ...]

    @property
    def running(self) -> tuple[ContainerInfo, ...]:
        return tuple(c for c in self.containers if c.status == "running")

    @property
    def empty(self) -> bool:
        """Nothing left to stop or remove (volumes are kept, so they do not count)."""
        return not (self.containers or self.pods or self.networks)

    def describe(self) -> str:
        parts = [
            f"{len(self.containers)} container(s) ({len(self.running)} running)",
            f"{len(self.pods)} pod(s)",
            f"{len(self.networks)} network(s)",
            f"{len(self.volumes)} volume(s), kept",
        ]
        return ", ".join(parts)


def find_project(runtime: PodmanRuntime, project: str) -> PodmanProject:
    """The project's containers, pods, networks and volumes on *runtime*."""
    return PodmanProject(
        containers=tuple(sorted(runtime.project_containers(project), key=lambda c: c.name)),
        pods=tuple(runtime.project_pods(project)),
        networks=tuple(runtime.project_networks(project)),
        volumes=tuple(sorted(runtime.project_volumes(project), key=lambda v: v.name)),
    )


def take_down(runtime: PodmanRuntime, project: str, *, stop_timeout: int = 10) -> PodmanProject:
    """Stop and remove the project's containers and pods, remove its networks; keep its volumes.

    Containers are stopped first with a grace period (so the application can
    flush its data before the snapshot reads it), then removed; pods go after
    their containers, networks last.  Returns what was found before.  Safe to
    run again: what is gone already is skipped.
    """
    found = find_project(runtime, project)
    for c in found.running:
        log.info("%s: stop %s", runtime.label, c.name)
        try:
            runtime.stop(c.name, timeout=stop_timeout)
        except EngineError as e:  # gone meanwhile, or refuses: removal below forces it
            log.warning("%s: stop %s: %s", runtime.label, c.name, e)
    # Containers that others depend on (podman-compose links them with --requires) can only go after
    # those: remove in passes, each removing what nothing depends on any more.
    pending = list(found.containers)
    while pending:
        refused: list[tuple[ContainerInfo, EngineError]] = []
        for c in pending:
            log.info("%s: remove container %s", runtime.label, c.name)
            try:
                runtime.remove_container(c.name)
            except EngineError as e:
                refused.append((c, e))
        if len(refused) == len(pending):
            raise refused[0][1]
        pending = [c for c, _ in refused]
    for pod in found.pods:
        log.info("%s: remove pod %s", runtime.label, pod.name)
        runtime.pod_remove(pod.name)
    for n in found.networks:
        log.info("%s: remove network %s", runtime.label, n.name)
        runtime.network_remove(n.name)
    left = find_project(runtime, project)
    if not left.empty:
        raise EngineError(
            runtime.label,
            f"take down {project}",
            f"still there after removal: {left.describe()}; "
            f"see `podman ps -a --filter label=com.docker.compose.project={project}`",
        )
    return found
