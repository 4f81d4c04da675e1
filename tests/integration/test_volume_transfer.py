"""Volume data between real engines: Docker -> rootful/rootless Podman and rootless Podman -> Docker.

Every copy is checked twice: by podshift's own verification, and from inside a
container of each engine (a listing of owners, modes, sizes, link targets and
contents as the container sees them), so a wrong mapping of owners cannot
hide behind a verification that reads the wrong side.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from podshift.runtimes import DockerRuntime, PodmanRuntime, Runtime
from podshift.volumes.transfer import (
    CTIME_SLACK_NS,
    VolumeRef,
    access,
    copy_volume,
    snapshot,
    transfer_volume,
    verified_files,
    verify_copy,
)

from .volume_content import fill, in_container

pytestmark = pytest.mark.xdist_group("volume-transfer")


def host_path(ref: VolumeRef) -> Path:
    acc = access(ref)
    assert acc.method == "host", acc
    assert acc.mountpoint is not None
    return acc.mountpoint


@pytest.fixture
def volumes(request: pytest.FixtureRequest) -> Iterator[list[VolumeRef]]:
    """Volumes created by a test (i11- prefixed), removed afterwards."""
    made: list[VolumeRef] = []
    yield made
    for ref in made:
        ref.runtime.volume_remove(ref.name, force=True)


def new_volume(runtime: Runtime, made: list[VolumeRef]) -> VolumeRef:
    ref = VolumeRef(runtime, f"i11-xfer-{uuid.uuid4().hex[:8]}")
    runtime.volume_create(ref.name)
    made.append(ref)
    return ref


@pytest.fixture
def docker_source(docker_runtime: DockerRuntime, volumes: list[VolumeRef]) -> VolumeRef:
    if os.geteuid() != 0:
        pytest.skip("filling a volume directly needs root")
    ref = new_volume(docker_runtime, volumes)
    fill(host_path(ref))
    return ref


@pytest.mark.parametrize("target_kind", ["podman", "podman-rootless"])
def test_two_pass_copy_docker_to_podman(
    request: pytest.FixtureRequest, target_kind: str, docker_source: VolumeRef, volumes: list[VolumeRef]
) -> None:
    runtime: PodmanRuntime = request.getfixturevalue(
        "podman_runtime" if target_kind == "podman" else "rootless_podman_runtime"
    )
    target = new_volume(runtime, volumes)
    expected_method = "host -> host" if target_kind == "podman" else "host -> unshare"
    time.sleep(CTIME_SLACK_NS / 1e9 + 0.2)  # files written just before a pass are sent again by design

    first = copy_volume(docker_source, target, live=True)
    assert first.method == expected_method
    assert not first.incremental
    assert first.baseline is not None
    before_stop = verify_copy(docker_source, target)
    assert before_stop.ok
    trusted = verified_files(before_stop)
    assert "secret" in trusted

    # The source keeps changing after the bulk pass: content, a new file, a removal, a chmod, a chown,
    # a new hardlink, a file turned into a directory.
    src = host_path(docker_source)
    (src / "many" / "f00001").write_bytes(b"changed after the bulk copy")
    (src / "late").write_text("new")
    (src / "many" / "f00002").unlink()
    os.chmod(src / "many" / "f00003", 0o640)
    os.chown(src / "many" / "f00004", 999, 999)
    os.link(src / "many" / "f00005", src / "b" / "late link")
    (src / "many" / "f00006").unlink()
    (src / "many" / "f00006").mkdir()
    assert not verify_copy(docker_source, target).ok  # the first pass alone is stale: the check can fail
    # Changes within the ctime window of the next pass are sent again by design: let it pass, so the third
    # pass below has nothing to send.
    time.sleep(CTIME_SLACK_NS / 1e9 + 0.2)

    final, verification = transfer_volume(docker_source, target, baseline=first.baseline, trusted=trusted)
    assert final.incremental
    assert final.sent_entries < 40, final  # only what changed (plus parents), not the 300+ entries
    assert final.removed_entries >= 2
    assert verification.ok, verification.difference
    if target_kind == "podman":  # both host-readable: the unchanged files were not read again
        assert any("verified before the stop" in n for n in verification.notes)
    assert in_container(runtime, target.name) == in_container(docker_source.runtime, docker_source.name)
    assert "/secret|999|999|600|" in in_container(runtime, target.name)  # uid 999 inside stays 999 inside

    # Nothing changed since: a third pass (once the ctime window has passed) sends nothing.
    assert final.baseline is not None
    time.sleep(CTIME_SLACK_NS / 1e9 + 0.2)
    again = copy_volume(docker_source, target, baseline=final.baseline)
    assert again.incremental
    assert (again.sent_entries, again.removed_entries, again.bytes) == (0, 0, 0)


def test_rootless_podman_to_docker(
    rootless_podman_runtime: PodmanRuntime, docker_source: VolumeRef, volumes: list[VolumeRef]
) -> None:
    rootless = new_volume(rootless_podman_runtime, volumes)
    transfer_volume(docker_source, rootless)
    back = new_volume(docker_source.runtime, volumes)
    result, verification = transfer_volume(rootless, back)
    assert result.method == "unshare -> host"
    assert verification.ok, verification.difference
    # Owners as seen inside, not the user's sub-ids: identical to the original Docker volume.
    assert snapshot(back).digest() == snapshot(docker_source).digest()
    assert in_container(docker_source.runtime, back.name) == in_container(docker_source.runtime, docker_source.name)
    sparse = host_path(back) / "sparse"
    assert sparse.stat().st_blocks * 512 < 1 << 20  # holes stay holes


def test_verification_sees_tampering(
    podman_runtime: PodmanRuntime, docker_source: VolumeRef, volumes: list[VolumeRef]
) -> None:
    target = new_volume(podman_runtime, volumes)
    transfer_volume(docker_source, target)
    dst = host_path(target)
    os.chown(dst / "secret", 0, 0)
    verification = verify_copy(docker_source, target)
    assert not verification.ok
    assert "secret" in verification.difference
    os.chown(dst / "secret", 999, 999)
    os.setxattr(dst / "secret", "user.podshift", b"other")
    assert "xattrs" in verify_copy(docker_source, target).difference
    os.setxattr(dst / "secret", "user.podshift", b"kept")
    os.chmod(dst, 0o755)  # noqa: S103 - tampering on purpose
    assert "top directory" in verify_copy(docker_source, target).difference


def test_api_fallback_copy(docker_runtime: DockerRuntime, docker_source: VolumeRef, volumes: list[VolumeRef]) -> None:
    """Engines reached only through their archive API (forced here) give the same copy."""
    target = new_volume(docker_runtime, volumes)

    class ApiOnly(DockerRuntime):
        def direct_path(self, volume: object) -> None:  # type: ignore[override]
            return None

    api = ApiOnly()
    try:
        ref = VolumeRef(api, target.name)
        assert access(ref).method == "api"
        result, verification = transfer_volume(docker_source, ref)
        assert result.method == "host -> api"
        assert verification.ok, verification.difference
    finally:
        api.close()
