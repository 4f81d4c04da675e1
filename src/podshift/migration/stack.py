"""The project's stack on each engine: stop it on Docker (keeping everything), start it on Podman."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from docker.errors import NotFound

from podshift.compose.model import ComposeProject
from podshift.compose.provider import DockerComposeProvider, provider_for
from podshift.runtimes.base import ContainerInfo
from podshift.runtimes.docker import DockerRuntime
from podshift.runtimes.podman import PodmanRuntime

log = logging.getLogger("podshift.migrate")


@dataclass(frozen=True)
class RemovedNetwork:
    name: str
    subnets: tuple[str, ...]
    labels: dict[str, str]

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "subnets": list(self.subnets), "labels": self.labels}


def running(containers: list[ContainerInfo]) -> list[ContainerInfo]:
    return [c for c in containers if c.status in ("running", "restarting", "paused")]


def docker_stack_stopped(docker: DockerRuntime, project: ComposeProject) -> bool:
    """No container of the project runs under Docker and none of its networks is left there."""
    return not running(docker.project_containers(project.name)) and not docker.project_networks(project.name)


def stop_docker_stack(docker: DockerRuntime, project: ComposeProject) -> list[RemovedNetwork]:
    """``docker compose stop`` (never ``down -v``), then remove the project's Docker networks.

    Containers, volumes and images stay for a fast way back.  The networks go
    because a stopped Docker bridge still holds its subnet on the host and
    Podman refuses the same subnet (shared/ENGINES.md); rollback recreates
    them through Compose.
    """
    provider = DockerComposeProvider(project, docker)
    try:
        provider.stop()
    finally:
        provider.close()
    removed = []
    for net in docker.project_networks(project.name):
        log.info("docker: remove network %s (%s)", net.name, ", ".join(net.subnets) or "no subnet")
        try:
            docker.client.networks.get(net.id).remove()
        except NotFound:
            continue
        removed.append(RemovedNetwork(net.name, net.subnets, dict(net.labels)))
    return removed


def start_podman_stack(podman: PodmanRuntime, project: ComposeProject, *, timeout: float = 180) -> None:
    """Create and start the project under Podman in dependency order, healthchecks driven, no build."""
    provider = provider_for(project, podman)
    try:
        provider.up(timeout=timeout, build=False)
    finally:
        provider.close()
