"""The runtime layer against the real engines: volumes keep in-container ownership and modes."""

from __future__ import annotations

import gc
import io
import os
import tarfile
import threading
import time
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from podshift.errors import EngineError
from podshift.images import HELPER_IMAGE, ensure_helper_image
from podshift.runtimes import DockerRuntime, Mount, PodmanRuntime, Runtime


@pytest.fixture
def volume(engine: Runtime) -> Iterator[str]:
    name = f"pstest-vol-{uuid.uuid4().hex[:8]}"
    engine.volume_create(name, {"io.podshift.test": "1"})
    try:
        yield name
    finally:
        engine.volume_remove(name, force=True)


def _tar(entries: list[tarfile.TarInfo], payload: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info in entries:
            data = payload.get(info.name)
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def _entry(name: str, kind: bytes, mode: int, uid: int = 0, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.uid, info.gid, info.linkname = kind, mode, uid, uid, link
    return info


def test_engine_reports_its_version(engine: Runtime) -> None:
    info = engine.info()
    assert info.engine == engine.engine
    assert info.version[0].isdigit()
    assert info.rootless == engine.rootless


def test_volume_round_trip_keeps_owner_mode_and_links(engine: Runtime, volume: str) -> None:
    entries = [
        _entry("secret", tarfile.REGTYPE, 0o600, uid=999),
        _entry("nobody-file", tarfile.REGTYPE, 0o644, uid=65534),
        _entry("shared", tarfile.DIRTYPE, 0o1777),
        _entry("link", tarfile.SYMTYPE, 0o777, link="secret"),
    ]
    engine.volume_import(volume, [_tar(entries, {"secret": b"s3cret\n", "nobody-file": b"x"})])

    with tarfile.open(fileobj=io.BytesIO(b"".join(engine.volume_export(volume)))) as tar:
        seen = {m.name.removeprefix("./"): m for m in tar.getmembers()}
        assert tar.extractfile(seen["secret"]).read() == b"s3cret\n"  # type: ignore[union-attr]
    assert (seen["secret"].uid, seen["secret"].mode & 0o7777) == (999, 0o600)
    assert seen["nobody-file"].uid == 65534
    assert seen["shared"].mode & 0o7777 == 0o1777
    assert seen["link"].issym()
    assert seen["link"].linkname == "secret"

    # ...and a container sees the same owner and mode (through the user namespace when rootless).
    from podshift.images import ensure_helper_image

    out = engine.run(
        ensure_helper_image(engine),
        ["stat", "-c", "%u %a %n", "/v/secret", "/v/nobody-file"],
        mounts=[Mount(volume, "/v", read_only=True)],
    )
    assert out.rc == 0, out.stderr
    assert out.stdout.split("\n")[:2] == ["999 600 /v/secret", "65534 644 /v/nobody-file"]


def test_volume_errors_are_domain_errors(engine: Runtime, volume: str) -> None:
    with pytest.raises(EngineError, match="already exists"):
        engine.volume_create(volume)
    with pytest.raises(EngineError, match="no such volume"):
        list(engine.volume_export(f"{volume}-missing"))
    engine.volume_remove(f"{volume}-missing")  # missing: not an error


def test_an_export_read_in_part_leaves_nothing_open(
    engine: Runtime, volume: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A consumer that stops early (a refused archive, a full disk): no socket, pipe or helper is left."""
    if isinstance(engine, DockerRuntime):
        monkeypatch.setattr(engine, "direct_path", lambda info: None)  # the archive API, not GNU tar
    blob = bytes(range(256)) * (16 << 12)  # 16 MiB: many chunks, so the export is really cut short
    engine.volume_import(volume, [_tar([_entry("blob", tarfile.REGTYPE, 0o644)], {"blob": blob})])

    gc.collect()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        export = engine.volume_export(volume)
        assert next(export)
        # On a thread, so that a close that hangs (Podman's CLI did) fails the test instead of the run.
        closer = threading.Thread(target=export.close, daemon=True)
        closer.start()
        closer.join(timeout=120)
        assert not closer.is_alive(), "closing a partly read export hung"
        del export, closer
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []
    engine.volume_remove(volume)  # without force: no helper container still holds it
    assert engine.volume(volume) is None


def test_concurrent_disk_usage_scans_wait_for_each_other(docker_runtime: DockerRuntime) -> None:
    """dockerd refuses a second concurrent `system df` (500 "already running"); podshift waits instead."""
    errors: list[BaseException] = []
    sizes: list[dict[str, int]] = []

    def scan() -> None:
        runtime = DockerRuntime()
        try:
            sizes.append(runtime.volume_sizes())
        except BaseException as e:  # collected and asserted below, in the test's own thread
            errors.append(e)
        finally:
            runtime.close()

    threads = [threading.Thread(target=scan) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert len(sizes) == 4


def _monitors_of(container_id: str) -> int:
    """conmon processes (the container's own, and one pair per live exec session) of *container_id*."""
    count = 0
    for pid in (p for p in os.listdir("/proc") if p.isdigit()):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"conmon") and container_id.encode() in argv:
            count += 1
    return count


@pytest.mark.parametrize("engine", ["podman", "podman-rootless"], indirect=True)
def test_exec_leaves_no_conmon_behind(engine: Runtime) -> None:
    """Podman 4.3 keeps an API exec session's two conmon processes for ever: podshift's exec must not leak."""
    assert isinstance(engine, PodmanRuntime)
    ensure_helper_image(engine)
    name = f"pstest-exec-{uuid.uuid4().hex[:8]}"
    started = engine.cli("run", "-d", "--pull=never", "--network=none", "--name", name, HELPER_IMAGE, "sleep", "600")
    assert started.succeeded, started.stderr
    container_id = started.stdout.strip()
    try:
        alone = _monitors_of(container_id)
        for _ in range(3):
            result = engine.exec(name, ["sh", "-c", "echo out; echo err >&2; exit 3"])
            assert (result.rc, result.stdout, result.stderr) == (3, "out\n", "err\n")
        assert engine.exec(name, ["id", "-u"], user="65534").stdout.strip() == "65534"
        time.sleep(1)  # a leaked session's conmon would still be there; a finished one is gone at once
        assert _monitors_of(container_id) == alone
    finally:
        engine.cli("rm", "-f", "-t", "0", name)
    deadline = time.monotonic() + 15  # the container's own conmon exits a moment after `rm` returns
    while _monitors_of(container_id) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _monitors_of(container_id) == 0
