"""Each failing host condition, induced for real, makes its check fail with the right severity and message.

Every test runs podshift's real checks in a subprocess (``pytest checks -m
prerequisites``) against the real host and engines, reads the JSON report,
and restores what it changed.  Conditions that Podman reads from
containers.conf or registries.conf are induced through CONTAINERS_CONF /
CONTAINERS_REGISTRIES_CONF pointing at test files, so the host stays
configured for the other tests.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..conftest import REPO
from .conftest import check, run_checks, write_compose
from .private_dockerd import private_dockerd

CHECKS = REPO / "checks" / "prerequisites"


# -- podman: containers.conf, via CONTAINERS_CONF -------------------------------------------------
@pytest.mark.skipif(not Path("/sys/fs/cgroup/unified").is_dir(), reason="needs the cgroup v1 hybrid layout")
def test_crun_on_hybrid_cgroups_is_critical(project_copy: Path, conf_file: Path) -> None:
    assert shutil.which("crun"), "crun must be installed (scripts/provision-engines.sh installs it)"
    conf_file.write_text(
        '[engine]\nruntime = "crun"\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n'
        '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n'
    )
    result = run_checks(project_copy, "test_podman.py", env={"CONTAINERS_CONF": str(conf_file)})
    c = check(result, "test_oci_runtime_works_with_this_cgroup_layout")
    assert (c["outcome"], c["severity"], c["remediation"]) == ("failed", "critical", "select-oci-runtime")
    assert "cgroup v1 hybrid" in c["message"]
    assert 'runtime = "runc"' in c["message"]
    assert result["verdict"] == "NOT READY"
    assert result["rc"] == 1


def test_unsettable_default_ulimits_are_critical(project_copy: Path, conf_file: Path) -> None:
    conf_file.write_text(
        '[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n'
        '[containers]\ndefault_ulimits = ["nofile=1048576:1048576"]\n'
    )
    result = run_checks(project_copy, "test_podman.py", env={"CONTAINERS_CONF": str(conf_file)})
    c = check(result, "test_default_ulimits_can_be_set")
    assert (c["outcome"], c["severity"], c["remediation"]) == ("failed", "critical", "default-ulimits")
    assert "nofile hard 1048576 > host limit" in c["message"]
    assert check(result, "test_a_container_runs_from_a_local_image")["outcome"] == "failed"


# -- rootless: users, /dev/net/tun -------------------------------------------------------------------
@pytest.fixture
def user_without_subids() -> Iterator[str]:
    name = f"psnosub{uuid.uuid4().hex[:6]}"
    # A system account gets no /etc/subuid or /etc/subgid range from useradd.
    subprocess.run(["useradd", "--system", "--no-create-home", name], check=True)
    try:
        assert not any(line.startswith(f"{name}:") for line in Path("/etc/subuid").read_text().splitlines())
        yield name
    finally:
        subprocess.run(["userdel", name], check=False)


@pytest.mark.skipif(os.geteuid() != 0, reason="creating a user needs root")
def test_user_without_subuids_is_critical(project_copy: Path, user_without_subids: str) -> None:
    result = run_checks(
        project_copy,
        "test_rootless.py::test_user_has_subordinate_id_ranges",
        env={"PODSHIFT_ROOTLESS_USER": user_without_subids},
    )
    c = check(result, "test_user_has_subordinate_id_ranges")
    assert (c["outcome"], c["severity"], c["remediation"]) == ("failed", "critical", "subuid-ranges")
    assert f"{user_without_subids} has 0 ids in /etc/subuid" in c["message"]
    assert "usermod --add-subuids" in c["message"]


@pytest.mark.skipif(os.geteuid() != 0, reason="changing /dev/net/tun needs root")
@pytest.mark.xdist_group("podman-rootless")
def test_tun_device_closed_to_the_rootless_user_is_critical(project_copy: Path) -> None:
    user = os.environ.get("PODSHIFT_ROOTLESS_USER")
    if not user:
        pytest.fail("PODSHIFT_ROOTLESS_USER must name the rootless test user (scripts/dev.sh sets it)")
    tun = Path("/dev/net/tun")
    before = tun.stat().st_mode & 0o7777
    tun.chmod(0o600)
    try:
        result = run_checks(
            project_copy,
            "test_rootless.py::test_tun_device_usable_for_rootless_ports",
            env={"PODSHIFT_ROOTLESS_USER": user},
        )
    finally:
        tun.chmod(before)
    c = check(result, "test_tun_device_usable_for_rootless_ports")
    assert (c["outcome"], c["severity"], c["remediation"]) == ("failed", "critical", "dev-net-tun")
    assert "/dev/net/tun is crw-------" in c["message"]
    assert (tun.stat().st_mode & 0o7777) == before


# -- network: a published port taken by another process --------------------------------------------------
def test_port_taken_by_another_process_is_critical(project_copy: Path) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        result = run_checks(
            project_copy, "test_network.py::test_published_ports_are_free", env={"PHOENIX_GATEWAY_PORT": str(port)}
        )
    c = check(result, "test_published_ports_are_free")
    assert (c["outcome"], c["severity"]) == ("failed", "critical")
    assert f"127.0.0.1:{port}/tcp (gateway)" in c["message"]


# -- compose ---------------------------------------------------------------------------------------------------
def test_unqualified_image_without_search_registries_is_critical(project_copy: Path, shared_dir: Path) -> None:
    registries = shared_dir / "registries.conf"
    registries.write_text("unqualified-search-registries = []\n")
    write_compose(
        project_copy,
        f"""
        services:
          app:
            image: pstest-nowhere-{uuid.uuid4().hex[:6]}:1
    """,
    )
    result = run_checks(
        project_copy,
        "test_compose.py::test_unqualified_images_can_be_resolved",
        env={"CONTAINERS_REGISTRIES_CONF": str(registries)},
    )
    c = check(result, "test_unqualified_images_can_be_resolved")
    assert (c["outcome"], c["severity"], c["remediation"]) == ("failed", "critical", "qualify-images")
    assert "app: pstest-nowhere-" in c["message"]
    assert "docker.io/library/" in c["message"]


def test_unsupported_compose_keys_are_warnings(project_copy: Path) -> None:
    (project_copy / "app").mkdir()
    (project_copy / "app" / "Dockerfile").write_text(
        "FROM localhost/phoenix-base:1\nRUN --mount=type=cache,target=/c true\n"
    )
    (project_copy / "cfg.txt").write_text("x\n")
    write_compose(
        project_copy,
        """
        services:
          app:
            build: app
            profiles: [extra]
            logging: {driver: syslog}
            extra_hosts: ["host.docker.internal:host-gateway"]
            configs: [cfg]
            depends_on:
              db: {condition: service_healthy}
          db:
            image: localhost/phoenix-base:1
        configs:
          cfg: {file: ./cfg.txt}
    """,
    )
    result = run_checks(project_copy, "test_compose.py")
    expected = {
        "test_no_profiles": "app (extra)",
        "test_no_configs": "configs: cfg",
        "test_depends_on_conditions": "app -> db (service_healthy)",
        "test_logging_drivers_exist_in_podman": "app (syslog)",
        "test_no_host_gateway_extra_hosts": "host.containers.internal",
        "test_dockerfiles_use_no_buildkit_only_syntax": "app/Dockerfile:2",
    }
    for name, text in expected.items():
        c = check(result, name)
        assert (c["outcome"], c["severity"]) == ("warning", "warning"), name
        assert text in c["message"], (name, c["message"])
    assert result["verdict"] == "READY WITH WARNINGS"
    assert result["rc"] == 0


# -- filesystem ----------------------------------------------------------------------------------------------------
def test_missing_bind_mount_source_is_critical(project_copy: Path) -> None:
    missing = f"/nonexistent-podshift-{uuid.uuid4().hex[:6]}/data"
    write_compose(
        project_copy,
        f"""
        services:
          app:
            image: localhost/phoenix-base:1
            volumes:
              - type: bind
                source: {missing}
                target: /data
    """,
    )
    result = run_checks(project_copy, "test_filesystem.py::test_bind_mount_sources_exist_and_are_accessible")
    c = check(result, "test_bind_mount_sources_exist_and_are_accessible")
    assert (c["outcome"], c["severity"], c["remediation"]) == ("failed", "critical", "bind-mount-permissions")
    assert f"{missing} does not exist" in c["message"]


# -- docker: the daemon stopped --------------------------------------------------------------------------------------
@pytest.mark.skipif(os.geteuid() != 0, reason="starting a private dockerd needs root")
def test_docker_daemon_stopped_is_critical(project_copy: Path) -> None:
    """A private dockerd (never the host's: other people's containers run there) answers, then is stopped."""
    with private_dockerd() as daemon:
        env = {"DOCKER_HOST": daemon.host}
        up = run_checks(project_copy, "test_docker.py::test_docker_daemon_answers", env=env)
        assert check(up, "test_docker_daemon_answers")["outcome"] == "passed", "the private daemon should answer"
        daemon.stop()
        result = run_checks(project_copy, "test_docker.py", env=env)
    c = check(result, "test_docker_daemon_answers")
    assert (c["outcome"], c["severity"]) == ("failed", "critical")
    assert str(daemon.socket) in c["message"]
    assert "dockerd" in c["message"]
    assert check(result, "test_docker_engine_is_recent_enough")["outcome"] == "skipped"
    assert result["verdict"] == "NOT READY"
