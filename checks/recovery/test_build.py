"""failed-build: the project's Dockerfiles against what Podman 4.3's builder takes, and its built images."""

from __future__ import annotations

import pytest

from podshift.compose.model import ComposeProject
from podshift.recovery.build import BuildFinding, is_short_name, scan_project
from podshift.runtimes import PodmanRuntime

pytestmark = [pytest.mark.recovery, pytest.mark.scenario("failed-build"), pytest.mark.category("compose")]
RECOVER = "`podshift recover failed-build`"


def _fail(found: list[BuildFinding], do: str) -> None:
    if found:
        pytest.fail("\n".join(f.describe() for f in found) + f"\ndo: {do}", pytrace=False)


@pytest.mark.check_id("recovery.build.no-heredocs")
@pytest.mark.severity("critical")
def test_no_heredocs(compose_project: ComposeProject) -> None:
    """No Dockerfile uses a heredoc (buildah 1.28: "Unknown instruction")."""
    _fail([f for f in scan_project(compose_project) if f.kind == "heredoc"], "move each script into a file and COPY it")


@pytest.mark.check_id("recovery.build.copy-chmod-is-octal")
@pytest.mark.severity("critical")
def test_copy_chmod_is_octal(compose_project: ComposeProject) -> None:
    """COPY/ADD --chmod modes are octal (buildah: "Error parsing chmod")."""
    _fail([f for f in scan_project(compose_project) if f.kind == "chmod-symbolic"], RECOVER)


@pytest.mark.check_id("recovery.build.run-mount-options-supported")
@pytest.mark.severity("warning")
def test_run_mount_options_supported(compose_project: ComposeProject) -> None:
    """RUN --mount uses only types and options Podman 4.3's builder takes."""
    _fail([f for f in scan_project(compose_project) if f.kind == "run-mount"], "rewrite the mount by hand")


@pytest.mark.check_id("recovery.build.no-syntax-directive")
@pytest.mark.severity("info")
def test_no_syntax_directive(compose_project: ComposeProject) -> None:
    """No Dockerfile asks for a BuildKit frontend with `# syntax=` (buildah ignores it)."""
    _fail([f for f in scan_project(compose_project) if f.kind == "syntax"], "check the features it brought")


@pytest.mark.check_id("recovery.build.base-images-resolve")
@pytest.mark.severity("critical")
def test_base_images_resolve(compose_project: ComposeProject, target_podman: PodmanRuntime) -> None:
    """Every short-name base image is already in Podman's store (no registry is asked)."""
    found = [
        f
        for f in scan_project(compose_project)
        if f.kind == "short-name" and is_short_name(img := f.text.split()[1]) and target_podman.image(img) is None
    ]
    _fail(found, RECOVER)


@pytest.mark.check_id("recovery.build.service-images-built")
@pytest.mark.severity("critical")
def test_service_images_built(compose_project: ComposeProject, target_podman: PodmanRuntime) -> None:
    """Every service that builds has its image under Podman."""
    missing = [
        f"service {name}: image {svc.image} is not built under {target_podman.label}"
        for name, svc in sorted(compose_project.services.items())
        if svc.build_context is not None and svc.image and target_podman.image(svc.image) is None
    ]
    if missing:
        pytest.fail("; ".join(missing) + f"; do: {RECOVER}", pytrace=False)
