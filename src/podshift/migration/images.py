"""Carry a project's images from Docker into the target Podman store: ``docker save`` -> ``podman load``.

Never a pull: an image Docker has is streamed across (docker-py's
``images.get(ref).save()`` into ``podman load`` run as the target user) and
its id compared after the load; only a service whose image Docker lacks and
that has a ``build:`` section is built with Podman.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from docker.errors import ImageNotFound

from podshift.compose.model import ComposeProject, Service
from podshift.errors import PodshiftError
from podshift.runtimes.docker import DockerRuntime
from podshift.runtimes.podman import PodmanRuntime

log = logging.getLogger("podshift.migrate")
_CHUNK = 1 << 20


class ImageCarryError(PodshiftError):
    def __init__(self, service: str, ref: str, problem: str) -> None:
        self.service, self.ref = service, ref
        super().__init__(f"image {ref} of service {service}: {problem}")


@dataclass(frozen=True)
class ServiceImage:
    """The image a service runs, under the name each Compose tool gives it."""

    service: str
    docker_ref: str  # what Docker Compose calls it (``image:``, else ``<project>-<service>``)
    podman_ref: str  # what podman-compose looks for (``image:``, else ``<project>_<service>``)
    buildable: bool


@dataclass(frozen=True)
class CarriedImage:
    service: str
    ref: str
    image_id: str  # sha256 hex, no prefix
    how: str  # "loaded", "present", "built"


def bare_id(image_id: str) -> str:
    return image_id.removeprefix("sha256:")


def service_images(project: ComposeProject) -> list[ServiceImage]:
    """Every service's image under both Compose tools' names."""
    out = []
    for name in sorted(project.services):
        service: Service = project.services[name]
        if service.image:
            out.append(ServiceImage(name, service.image, service.image, service.build_context is not None))
        else:
            out.append(ServiceImage(name, f"{project.name}-{name}", f"{project.name}_{name}", True))
    return out


def podman_has(podman: PodmanRuntime, ref: str, image_id: str) -> bool:
    info = podman.image(ref)
    return info is not None and bare_id(info.id) == bare_id(image_id)


def carry_images(
    docker: DockerRuntime,
    podman: PodmanRuntime,
    project: ComposeProject,
    *,
    progress: Callable[[str, int, int], None] = lambda what, done, files: None,
    dry_run: bool = False,
) -> list[CarriedImage]:
    """Make every service's image present in *podman*, identical (same id) to Docker's where Docker has it."""
    carried: list[CarriedImage] = []
    for wanted in service_images(project):
        try:
            image = docker.client.images.get(wanted.docker_ref)
        except ImageNotFound:
            image = None
        if image is None:
            if not wanted.buildable:
                raise ImageCarryError(
                    wanted.service,
                    wanted.docker_ref,
                    "Docker does not have it and the service has no build section: "
                    "podshift never pulls — load or build it into Docker first",
                )
            service = project.services[wanted.service]
            if service.build_context is None:  # an image-less service always builds from its context
                raise ImageCarryError(wanted.service, wanted.docker_ref, "no build context")
            if not dry_run:
                log.info("%s: Docker lacks %s: building it with %s", wanted.service, wanted.docker_ref, podman.label)
                info = podman.image_build(service.build_context, wanted.podman_ref, service.dockerfile)
                carried.append(CarriedImage(wanted.service, wanted.podman_ref, bare_id(info.id), "built"))
            continue
        image_id = bare_id(image.id or "")
        if podman_has(podman, wanted.podman_ref, image_id):
            carried.append(CarriedImage(wanted.service, wanted.podman_ref, image_id, "present"))
            continue
        if dry_run:
            carried.append(CarriedImage(wanted.service, wanted.podman_ref, image_id, "to load"))
            continue
        log.info("%s: docker save %s | podman load (%s)", wanted.service, wanted.docker_ref, podman.label)
        podman.image_load(_counted(image.save(chunk_size=_CHUNK, named=True), wanted.docker_ref, progress))
        loaded = podman.image(wanted.docker_ref)
        if loaded is None or bare_id(loaded.id) != image_id:
            got = bare_id(loaded.id)[:12] if loaded is not None else "nothing"
            raise ImageCarryError(
                wanted.service, wanted.docker_ref, f"podman load gave {got}, Docker has {image_id[:12]}"
            )
        if wanted.podman_ref != wanted.docker_ref:
            # podman-compose names a build-only service's image <project>_<service>: tag the same image so.
            podman.cli("tag", image_id, wanted.podman_ref).check()
        carried.append(CarriedImage(wanted.service, wanted.podman_ref, image_id, "loaded"))
    return carried


def _counted(chunks: Iterable[bytes], what: str, progress: Callable[[str, int, int], None]) -> Iterator[bytes]:
    done = 0
    for chunk in chunks:
        done += len(chunk)
        progress(f"image {what}", done, 0)
        yield chunk
