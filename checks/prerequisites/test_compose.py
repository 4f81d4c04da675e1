"""compose: what in the compose file Podman and podman-compose treat differently."""

from __future__ import annotations

import pytest

from podshift.compose.model import ComposeProject
from podshift.probes import podman_cli, unqualified_search_registries

pytestmark = [pytest.mark.prerequisites, pytest.mark.category("compose")]

PODMAN_LOG_DRIVERS = {"json-file", "journald", "k8s-file", "none", "passthrough"}


def _is_qualified(image: str) -> bool:
    first = image.split("/", 1)[0]
    return "/" in image and ("." in first or ":" in first or first == "localhost")


@pytest.mark.check_id("compose.images-qualified")
@pytest.mark.severity("critical")
@pytest.mark.remediation("qualify-images")
def test_unqualified_images_can_be_resolved(project: ComposeProject, podman_user: str, evidence) -> None:
    """Every image name resolves under Podman (fully qualified, local, or a search registry is set)."""
    registries = unqualified_search_registries()
    evidence("unqualified-search-registries", registries or "none")
    unresolvable = []
    for service in project.services.values():
        image = service.image
        if not image or service.build_context is not None or _is_qualified(image):
            continue  # built locally, or qualified
        local = podman_cli("image", "exists", image, user=podman_user).rc == 0
        evidence(service.name, f"{image} ({'local' if local else 'not local'})")
        if not local and not registries:
            unresolvable.append(f"{service.name}: {image}")
    assert not unresolvable, (
        f"unqualified image names and no unqualified-search-registries in registries.conf: "
        f"{', '.join(unresolvable)} — write them in full (docker.io/library/NAME:TAG)"
    )


def _keys_warning(found: list[str], what: str, alternative: str) -> None:
    assert not found, f"{what}: {', '.join(found)} — {alternative}"


@pytest.mark.check_id("compose.no-profiles")
@pytest.mark.severity("warning")
def test_no_profiles(project: ComposeProject) -> None:
    """No service uses profiles (podman-compose handles them differently)."""
    found = [f"{s.name} ({', '.join(s.raw['profiles'])})" for s in project.services.values() if s.raw.get("profiles")]
    _keys_warning(found, "services with profiles", "podman-compose only starts them with --profile; check each")


@pytest.mark.check_id("compose.no-configs")
@pytest.mark.severity("warning")
def test_no_configs(project: ComposeProject) -> None:
    """The project uses no `configs` (podman-compose supports file sources only)."""
    found = sorted(project.raw.get("configs") or {})
    _keys_warning(found, "configs", "use file-based configs or bind-mount the files read-only")


@pytest.mark.check_id("compose.depends-on-conditions")
@pytest.mark.severity("warning")
def test_depends_on_conditions(project: ComposeProject) -> None:
    """No depends_on waits on a condition podman-compose ignores."""
    found = [
        f"{s.name} -> {d} ({c})"
        for s in project.services.values()
        for d, c in s.depends_on.items()
        if c != "service_started"
    ]
    _keys_warning(
        found,
        "depends_on conditions that podman-compose on Podman 4.3 ignores",
        "podshift's Podman provider starts in dependency order and runs healthchecks itself; "
        "plain `podman-compose up` will not wait, so services must retry their dependencies",
    )


@pytest.mark.check_id("compose.logging-drivers")
@pytest.mark.severity("warning")
def test_logging_drivers_exist_in_podman(project: ComposeProject) -> None:
    """Every logging driver exists in Podman."""
    found = [
        f"{s.name} ({s.raw['logging']['driver']})"
        for s in project.services.values()
        if (s.raw.get("logging") or {}).get("driver") not in (None, *PODMAN_LOG_DRIVERS)
    ]
    _keys_warning(found, "logging drivers Podman does not have", f"use one of {', '.join(sorted(PODMAN_LOG_DRIVERS))}")


@pytest.mark.check_id("compose.no-host-gateway")
@pytest.mark.severity("warning")
def test_no_host_gateway_extra_hosts(project: ComposeProject) -> None:
    """No extra_hosts entry uses Docker's `host-gateway`."""
    found = []
    for s in project.services.values():
        # Compose normalizes extra_hosts to "name=address" strings.
        found += [
            f"{s.name} ({entry.split('=', 1)[0]})"
            for entry in s.raw.get("extra_hosts") or ()
            if entry.endswith("=host-gateway")
        ]
    _keys_warning(found, "extra_hosts with host-gateway", "use host.containers.internal, which Podman provides")


@pytest.mark.check_id("compose.no-buildkit-syntax")
@pytest.mark.severity("warning")
def test_dockerfiles_use_no_buildkit_only_syntax(project: ComposeProject) -> None:
    """No Dockerfile uses BuildKit-only syntax (`RUN --mount`)."""
    found = []
    for s in project.services.values():
        if s.build_context is None:
            continue
        dockerfile = s.build_context / (s.dockerfile or "Dockerfile")
        if dockerfile.is_file():
            for n, line in enumerate(dockerfile.read_text(errors="replace").splitlines(), 1):
                if line.strip().upper().startswith("RUN") and "--mount" in line:
                    found.append(f"{dockerfile.relative_to(project.project_dir)}:{n}")
    _keys_warning(
        found,
        "RUN --mount (BuildKit-only on older Podman/Buildah)",
        "use Buildah >= 1.24 or rewrite the step without cache/secret mounts",
    )


@pytest.mark.check_id("compose.variables-set")
@pytest.mark.severity("warning")
def test_no_unset_variables(project: ComposeProject, evidence) -> None:
    """Every ${VAR} the compose file uses is set or has a default."""
    unset = project.unset_variables
    evidence("docker compose config warnings", list(project.compose_warnings) or "none")
    assert not unset, (
        f"variables used in the compose file but unset here, with no default: {', '.join(unset)} — Compose "
        "substitutes an empty string; set them in the environment or the project's .env file, or write "
        "${VAR:-default}, before migrating"
    )
