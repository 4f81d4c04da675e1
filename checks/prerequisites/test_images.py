"""compose: every service's image can be had by the target Podman."""

from __future__ import annotations

import pytest

from podshift.compose.model import ComposeProject, Service
from podshift.probes import podman_cli, unqualified_search_registries
from podshift.registries import DOCKER_HUB, probe, registry_of
from podshift.runtimes import DockerRuntime

pytestmark = [pytest.mark.prerequisites, pytest.mark.category("compose")]


def _buildable(service: Service) -> str | None:
    """Why *service* can be built here, or None."""
    context = service.build_context
    if context is None:
        return None
    dockerfile = context / (service.dockerfile or "Dockerfile")
    if context.is_dir() and dockerfile.is_file():
        return f"built from {context}"
    return None


def _in_docker(image: str) -> bool:
    docker = DockerRuntime()
    try:
        return docker.probe_socket() is None and docker.image(image) is not None
    finally:
        docker.close()


@pytest.mark.check_id("compose.images-available")
@pytest.mark.severity("critical")
def test_every_image_is_available_to_podman(project: ComposeProject, podman_user: str, evidence) -> None:
    """Every service's image is available to the target Podman (present, carried from Docker, buildable or pullable)."""
    answers: dict[str, tuple[bool, str]] = {}  # registry -> (answers, detail), probed once each
    missing = []
    for service in project.services.values():
        image = service.image
        how = _buildable(service)
        if how is None and image and podman_cli("image", "exists", image, user=podman_user).rc == 0:
            how = f"already in {podman_user}'s Podman"
        if how is None and image and _in_docker(image):
            how = "in Docker's image store (the migration carries it over)"
        tried = []
        if how is None and image:
            registry = registry_of(image)
            for r in [registry] if registry else unqualified_search_registries() or [DOCKER_HUB]:
                if r not in answers:
                    found = probe(r)
                    answers[r] = (found.answers, found.detail)
                if answers[r][0]:
                    how = f"pullable from {r} ({answers[r][1]})"
                    break
                tried.append(f"{r}: {answers[r][1]}")
        if how is None:
            why = f" (no registry answers: {'; '.join(tried)})" if tried else ""
            missing.append(f"{service.name}: {image or 'no image and no build context'}{why}")
        evidence(service.name, how or "not available")
    assert not missing, (
        f"images neither Podman nor Docker has, with no build context and no registry that answers: "
        f"{'; '.join(missing)} — build or load them first (`docker pull` on a connected host, then "
        "`docker save IMAGE | podman load`), or fix the name"
    )
