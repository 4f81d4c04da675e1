"""The Podman side of a rollback on the real engines: a project found by its compose labels
(podman-compose with and without a pod, containers made by hand) and taken down with its volumes kept."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from podshift.commands import run
from podshift.compose import load_project
from podshift.compose.provider import PodmanComposeProvider
from podshift.compose.tools import podman_compose_argv
from podshift.images import HELPER_IMAGE, ensure_helper_image
from podshift.rollback.podman_side import find_project, take_down
from podshift.runtimes import PodmanRuntime

COMPOSE = """\
name: {name}
services:
  app:
    image: {image}
    pull_policy: never
    command: ["sh", "-c", "trap 'exit 0' TERM; echo hi > /data/hello; while :; do sleep 1; done"]
    volumes: [data:/data]
    networks: [net]
  side:
    image: {image}
    pull_policy: never
    command: ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"]
    networks: [net]
networks:
  net: {{}}
volumes:
  data: {{}}
"""


@pytest.fixture(params=["podman", "podman-rootless"])
def podman_engine(request: pytest.FixtureRequest) -> PodmanRuntime:
    fixture = "podman_runtime" if request.param == "podman" else "rootless_podman_runtime"
    runtime: PodmanRuntime = request.getfixturevalue(fixture)
    ensure_helper_image(runtime)
    return runtime


#: Another engineer running these beside one's own run picks another prefix (PODSHIFT_TEST_PREFIX).
PREFIX = os.environ.get("PODSHIFT_TEST_PREFIX", "i12-")


@pytest.fixture
def small_project(podman_engine: PodmanRuntime) -> Iterator[tuple[Path, str]]:
    root = Path(tempfile.mkdtemp(prefix=f"{PREFIX}podside-"))
    root.chmod(0o755)
    name = f"{PREFIX}ps{uuid.uuid4().hex[:6]}"
    (root / "compose.yaml").write_text(COMPOSE.format(name=name, image=HELPER_IMAGE))
    (root / "compose.yaml").chmod(0o644)
    try:
        yield root, name
    finally:
        take_down(podman_engine, name)
        for v in podman_engine.project_volumes(name):
            podman_engine.volume_remove(v.name, force=True)
        shutil.rmtree(root, ignore_errors=True)


def _podman_compose(runtime: PodmanRuntime, root: Path, *args: str) -> None:
    """podman-compose as a user runs it (for a rootless user: podman itself runs as that user)."""
    provider = PodmanComposeProvider(load_project(root), runtime)
    try:
        argv = [*podman_compose_argv(), "--podman-path", provider._podman_path(), *args]
        run(argv, cwd=root, timeout=300).check()
    finally:
        provider.close()


@pytest.mark.parametrize("in_pod", [True, False], ids=["in-pod", "no-pod"])
def test_podman_compose_project_is_found_and_taken_down_volumes_kept(
    podman_engine: PodmanRuntime, small_project: tuple[Path, str], in_pod: bool
) -> None:
    root, name = small_project
    _podman_compose(podman_engine, root, "--in-pod", str(in_pod).lower(), "up", "-d")
    found = find_project(podman_engine, name)
    assert {c.service for c in found.containers} == {"app", "side"}
    assert [n.name for n in found.networks] == [f"{name}_net"]
    assert [v.name for v in found.volumes] == [f"{name}_data"]
    assert bool(found.pods) == in_pod, found.pods

    taken = take_down(podman_engine, name)
    assert taken.containers == found.containers
    after = find_project(podman_engine, name)
    assert after.empty, after.describe()
    assert [v.name for v in after.volumes] == [f"{name}_data"], "volumes must be kept"
    # Data in the kept volume is intact.
    out = podman_engine.cli("run", "--rm", "--pull=never", "-v", f"{name}_data:/d", HELPER_IMAGE, "cat", "/d/hello")
    assert out.check().stdout.strip() == "hi"
    # Again: nothing left to do, no error.
    assert take_down(podman_engine, name).empty


def test_container_made_by_hand_with_the_podman_label_only_is_found(
    podman_engine: PodmanRuntime, small_project: tuple[Path, str]
) -> None:
    _root, name = small_project
    podman_engine.cli(
        "run", "-d", "--pull=never", "--name", f"{name}-byhand", "--label", f"io.podman.compose.project={name}",
        HELPER_IMAGE, "sleep", "300",
    ).check()  # fmt: skip
    found = find_project(podman_engine, name)
    assert [c.name for c in found.containers] == [f"{name}-byhand"]
    take_down(podman_engine, name, stop_timeout=1)
    assert find_project(podman_engine, name).empty
