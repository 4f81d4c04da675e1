"""The checks a real stack slipped past, each induced for real on the real engines.

Names carry the ``i15-`` prefix, subnets sit in 10.15.0.0/16 and the only
registry address used is 127.0.0.1 (nothing listens on port 21599), so no
traffic leaves the host.
"""

from __future__ import annotations

import contextlib
import os
import random
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from podshift.images import HELPER_IMAGE, ensure_helper_image
from podshift.runtimes import DockerRuntime

from .conftest import check, run_checks, write_compose

ROOTLESS = {"PODSHIFT_ROOTLESS_USER": "podshift"}
pytestmark = pytest.mark.xdist_group("docker")


@pytest.fixture
def docker_rt() -> Iterator[DockerRuntime]:
    runtime = DockerRuntime()
    runtime.ping()
    ensure_helper_image(runtime)
    yield runtime
    runtime.close()


def test_an_image_no_engine_has_and_no_registry_serves_is_critical(
    project_copy: Path, docker_rt: DockerRuntime
) -> None:
    carried = f"localhost/i15-carry-{uuid.uuid4().hex[:6]}:1"
    docker_rt.client.images.get(HELPER_IMAGE).tag(carried)
    try:
        (project_copy / "ctx").mkdir()
        (project_copy / "ctx" / "Dockerfile").write_text(f"FROM {HELPER_IMAGE}\n")
        write_compose(
            project_copy,
            f"""
            services:
              nowhere:
                image: 127.0.0.1:21599/i15/nowhere-{uuid.uuid4().hex[:6]}:1
              carried:
                image: {carried}
              built:
                build: {{context: ctx}}
                image: localhost/i15-built-never:1
            """,
        )
        result = run_checks(project_copy, "test_images.py")
    finally:
        docker_rt.image_remove(carried)
    c = check(result, "test_every_image_is_available_to_podman")
    assert (c["outcome"], c["severity"]) == ("failed", "critical")
    assert "nowhere: 127.0.0.1:21599/i15/nowhere-" in c["message"]
    assert "no registry answers: 127.0.0.1:21599" in c["message"]
    assert "carried" not in c["message"]
    assert "built:" not in c["message"]
    evidence = "\n".join(c["evidence"])
    assert "carried: in Docker's image store" in evidence
    assert "built: built from" in evidence
    assert result["rc"] == 1


def test_unset_variables_without_default_are_a_warning(project_copy: Path) -> None:
    name = f"I15_UNSET_{uuid.uuid4().hex[:6].upper()}"
    write_compose(
        project_copy,
        f"""
        services:
          app:
            image: localhost/i15-app:${{{name}}}
            environment:
              WITH_DEFAULT: ${{I15_HAS_DEFAULT:-yes}}
              ESCAPED: $${{NOT_A_VARIABLE}}
        """,
    )
    result = run_checks(project_copy, "test_compose.py::test_no_unset_variables")
    c = check(result, "test_no_unset_variables")
    assert (c["outcome"], c["severity"]) == ("warning", "warning")
    assert f"unset here, with no default: {name} —" in c["message"]
    assert "I15_HAS_DEFAULT" not in c["message"]
    assert "NOT_A_VARIABLE" not in c["message"]


def test_rootless_cap_add_and_sysctls_it_cannot_grant_are_critical(project_copy: Path) -> None:
    write_compose(
        project_copy,
        f"""
        services:
          clock:
            image: {HELPER_IMAGE}
            cap_add: [NET_ADMIN, SYS_TIME, CAP_SYS_MODULE]
            sysctls:
              net.ipv4.ip_forward: "1"
              kernel.domainname: i15.example
        """,
    )
    result = run_checks(
        project_copy,
        "test_rootless.py::test_cap_add_is_grantable_in_a_user_namespace",
        "test_rootless.py::test_sysctls_can_be_set_rootless",
        env=ROOTLESS,
    )
    caps = check(result, "test_cap_add_is_grantable_in_a_user_namespace")
    assert (caps["outcome"], caps["severity"]) == ("failed", "critical")
    assert "clock: SYS_TIME, SYS_MODULE" in caps["message"]
    assert "NET_ADMIN" not in caps["message"]
    sysctls = check(result, "test_sysctls_can_be_set_rootless")
    assert (sysctls["outcome"], sysctls["severity"]) == ("failed", "critical")
    assert "clock: kernel.domainname=i15.example" in sysctls["message"]
    assert "ip_forward" not in sysctls["message"]


@pytest.mark.skipif(os.geteuid() != 0, reason="a rootful target needs root")
def test_rootful_target_does_not_judge_rootless_limits(project_copy: Path) -> None:
    write_compose(project_copy, f"services:\n  clock:\n    image: {HELPER_IMAGE}\n    cap_add: [SYS_TIME]\n")
    result = run_checks(
        project_copy,
        "test_rootless.py::test_cap_add_is_grantable_in_a_user_namespace",
        env={"PODSHIFT_ROOTLESS_USER": ""},  # as root: rootful Podman, whatever the environment says
    )
    assert check(result, "test_cap_add_is_grantable_in_a_user_namespace")["outcome"] == "skipped"


def test_files_written_outside_volumes_are_named(project_copy: Path, docker_rt: DockerRuntime) -> None:
    project = f"i15-diff-{uuid.uuid4().hex[:6]}"
    volume = docker_rt.client.volumes.create(f"{project}_data")
    container = docker_rt.client.containers.run(
        HELPER_IMAGE,
        ["sh", "-c", "echo x > /etc/i15-written; echo y > /data/kept; touch /ready; sleep 300"],
        name=f"{project}-app-1",
        labels={"com.docker.compose.project": project, "com.docker.compose.service": "app"},
        volumes={volume.name: {"bind": "/data", "mode": "rw"}},
        network_mode="none",
        detach=True,
    )
    try:
        for _ in range(50):
            if any(c["Path"] == "/ready" for c in container.diff() or []):
                break
            time.sleep(0.1)
        write_compose(project_copy, f"name: {project}\nservices:\n  app:\n    image: {HELPER_IMAGE}\n")
        result = run_checks(project_copy, "test_docker.py::test_containers_wrote_nothing_outside_volumes")
    finally:
        container.remove(force=True)
        volume.remove(force=True)
    c = check(result, "test_containers_wrote_nothing_outside_volumes")
    assert (c["outcome"], c["severity"]) == ("warning", "warning")
    assert f"{project}-app-1: " in c["message"]
    assert "/etc/i15-written (added)" in c["message"]
    assert "/data/kept" not in c["message"]
    assert "/etc (changed)" not in c["message"]


def test_subnet_held_by_the_projects_docker_bridge_is_info(project_copy: Path, docker_rt: DockerRuntime) -> None:
    project = f"i15-net-{uuid.uuid4().hex[:6]}"
    subnet = f"10.15.{random.randint(1, 254)}.0/24"  # noqa: S311 - not security
    network = docker_rt.client.networks.create(
        f"{project}_default",
        ipam=docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=subnet)]),
        labels={"com.docker.compose.project": project, "com.docker.compose.network": "default"},
    )
    try:
        write_compose(
            project_copy,
            f"""
            name: {project}
            services:
              app:
                image: {HELPER_IMAGE}
            networks:
              default:
                ipam:
                  config:
                    - subnet: {subnet}
            """,
        )
        result = run_checks(project_copy, "test_network.py::test_declared_subnets_are_not_held_by_docker")
    finally:
        with contextlib.suppress(docker.errors.NotFound):
            network.remove()
    c = check(result, "test_declared_subnets_are_not_held_by_docker")
    assert (c["outcome"], c["severity"]) == ("info", "info")
    assert f"{subnet} by Docker network {project}_default" in c["message"]
    assert "removes the Docker network before Podman creates its own" in c["message"]
