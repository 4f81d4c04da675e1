"""Backups on the real engines: awkward content round-trips Docker -> Docker and Docker -> rootless Podman,
compared entry by entry as seen inside a container; tampering, crafted archives, locks, atomicity."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from podshift.backup import signing
from podshift.backup.manifest import JSON_NAME
from podshift.backup.members import UnsafeArchive
from podshift.backup.restore import restore_config, restore_volume
from podshift.backup.store import BackupError, BackupStore, compare_entries
from podshift.backup.tarscan import scan_file
from podshift.compose.model import ComposeProject, load_project
from podshift.images import ensure_helper_image
from podshift.locking import project_lock
from podshift.runtimes import DockerRuntime, Mount, PodmanRuntime, Runtime

from ..conftest import REPO

pytestmark = pytest.mark.xdist_group("docker")  # one engine, serially

# Awkward content, made inside a container (as root there): owners, modes, links, sparse, odd names.
FILL = r"""
set -e
cd /v
echo secret > owned-999 && chown 999:999 owned-999 && chmod 0600 owned-999
echo root > owned-0 && chmod 0644 owned-0
echo nobody > owned-65534 && chown 65534:65534 owned-65534
echo suid > setuid && chmod 4755 setuid
mkdir sticky && chmod 1777 sticky
ln -s owned-0 rel-link && ln -s /etc/passwd abs-link && ln -s does-not-exist dangling
echo shared > hard-a && ln hard-a hard-b
truncate -s 5M sparse && printf tail >> sparse
mkdir -p empty/dir "with space" && echo s > "with space/file name"
printf x > "$(printf 'new\nline')"
echo u > "ünïcödé-ファイル"
mkdir -p deep/a/b/c/d/e/f/g/h/i/j/k/l && echo deep > deep/a/b/c/d/e/f/g/h/i/j/k/l/leaf
mkdir many && cd many && i=0 && while [ $i -lt 2000 ]; do echo $i > f$i; i=$((i+1)); done
"""

# One line per entry, as the container sees it; the name hex-encoded (newlines, non-ASCII).
LIST = r"""
cd /v && find . -exec sh -c '
for f; do
  printf "%s" "$f" | od -An -tx1 | tr -d " \n"; printf "|"
  stat -c "%F|%s|%a|%u|%g|%h|%i" "$f" | tr -d "\n"; printf "|"
  if [ -L "$f" ]; then readlink "$f" | od -An -tx1 | tr -d " \n"; echo
  elif [ -f "$f" ]; then sha256sum < "$f" | cut -c1-64
  else echo; fi
done' sh {} +
"""


def backup_argv(project_dir: Path, *args: str) -> list[str]:
    """The command line of `podshift backup --project-dir DIR ARGS`."""
    return [sys.executable, "-m", "podshift.cli", "backup", "--project-dir", str(project_dir), *args]


def backup_cli(project_dir: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`podshift backup --project-dir DIR ARGS` in a child process, as a user runs it."""
    return subprocess.run(
        backup_argv(project_dir, *args),
        env=env,
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
        timeout=600,
    )


def listing(runtime: Runtime, volume: str) -> dict[str, tuple[str, ...]]:
    """{hex name: (type, size, mode, uid, gid, links, content sha or link target, hardlink group)}."""
    out = runtime.run(ensure_helper_image(runtime), ["sh", "-c", LIST], mounts=[Mount(volume, "/v", read_only=True)])
    assert out.rc == 0, out.stderr
    rows = [line.split("|") for line in out.stdout.splitlines() if line]
    by_inode: dict[str, list[str]] = {}
    for name, *_rest, inode, _content in rows:
        by_inode.setdefault(inode, []).append(name)
    result = {}
    for name, kind, size, mode, uid, gid, links, inode, content in rows:
        if name == "2e":  # "." — the volume root
            continue
        group = ",".join(sorted(by_inode[inode])) if int(links) > 1 and kind != "directory" else ""
        size = "" if kind == "directory" else size  # directory sizes depend on the filesystem
        result[name] = (kind, size, mode, uid, gid, links if kind != "directory" else "", content, group)
    return result


@contextlib.contextmanager
def awkward(runtime: Runtime) -> Iterator[tuple[ComposeProject, str]]:
    """A project whose one volume, on *runtime*, holds the awkward content; removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix="podshift-backup-"))
    name = f"psbk{uuid.uuid4().hex[:8]}"
    (root / "compose.yaml").write_text(
        f"name: {name}\nservices:\n  app:\n    image: localhost/podshift-helper:1\n    volumes: [data:/data]\n"
        "volumes:\n  data: {}\n"
    )
    (root / ".env").write_text("PASSWORD=hunter2\n")
    (root / "deploy.sh").write_text("#!/bin/sh\necho deploy\n")
    (root / "deploy.sh").chmod(0o750)
    volume = f"{name}_data"
    runtime.volume_create(volume, {"com.docker.compose.project": name})
    try:
        filled = runtime.run(ensure_helper_image(runtime), ["sh", "-c", FILL], mounts=[Mount(volume, "/v")])
        assert filled.rc == 0, filled.stderr
        yield load_project(root), volume
    finally:
        runtime.volume_remove(volume, force=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def awkward_project(docker_runtime: DockerRuntime) -> Iterator[tuple[ComposeProject, str]]:
    with awkward(docker_runtime) as made:
        yield made


def test_awkward_volume_round_trips_to_docker_and_rootful_and_rootless_podman(
    awkward_project: tuple[ComposeProject, str],
    docker_runtime: DockerRuntime,
    podman_runtime: PodmanRuntime,
    rootless_podman_runtime: PodmanRuntime,
) -> None:
    project, volume = awkward_project
    store = BackupStore(project.project_dir)
    manifest = store.create(project, docker_runtime, include_data=True, force=False)
    assert store.verify() == []
    [archive] = manifest.archives
    assert len(archive.entries) > 2000
    assert any(c.sensitive and c.source.endswith(".env") for c in manifest.config)

    original = listing(docker_runtime, volume)
    assert original, "nothing listed"
    for runtime in (docker_runtime, podman_runtime, rootless_podman_runtime):
        target = f"{volume}-restored"
        restore_volume(store, volume, runtime, target)
        try:
            assert listing(runtime, target) == original, f"{runtime.label} sees a different volume"
        finally:
            runtime.volume_remove(target, force=True)

    # The configuration comes back byte-identical, with its modes.
    out = project.project_dir / "restored"
    restore_config(store, project, target_dir=out)
    assert (out / ".env").read_bytes() == b"PASSWORD=hunter2\n"
    assert (out / "deploy.sh").stat().st_mode & 0o777 == 0o750


def test_rootless_podman_volume_backs_up_and_restores_into_docker(
    rootless_podman_runtime: PodmanRuntime, docker_runtime: DockerRuntime
) -> None:
    """The way back (rollback): the same code reads a rootless Podman volume through the engine."""
    with awkward(rootless_podman_runtime) as (project, volume):
        assert rootless_podman_runtime.direct_path(rootless_podman_runtime.volume(volume)) is None
        store = BackupStore(project.project_dir)
        manifest = store.create(project, rootless_podman_runtime, include_data=True, force=False)
        assert store.verify() == []
        [archive] = manifest.archives
        owners = {e.path: (e.uid, e.gid) for e in archive.entries}
        assert owners["owned-999"] == (999, 999), "owners as the container sees them, not the host's sub-ids"
        assert owners["owned-65534"] == (65534, 65534)
        original = listing(rootless_podman_runtime, volume)
        target = f"{volume}-restored"
        restore_volume(store, volume, docker_runtime, target)
        try:
            assert listing(docker_runtime, target) == original, "Docker sees a different volume"
        finally:
            docker_runtime.volume_remove(target, force=True)


def test_direct_and_engine_paths_record_the_same_volume(
    awkward_project: tuple[ComposeProject, str], docker_runtime: DockerRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fast path (GNU tar + a walk of the volume directory) agrees with the engine's own archive, entry by entry."""
    project, volume = awkward_project
    store = BackupStore(project.project_dir)
    direct = store.create(project, docker_runtime, include_data=True, force=False)
    assert docker_runtime.direct_path(docker_runtime.volume(volume)) is not None, "root should read the volume directly"
    monkeypatch.setattr(docker_runtime, "direct_path", lambda info: None)
    engine = store.create(project, docker_runtime, include_data=True, force=True)
    assert store.verify() == []
    [a], [b] = direct.archives, engine.archives
    assert len(a.entries) == len(b.entries) > 2000
    assert compare_entries(a.entries, b.entries) == ""  # owner, mode, type, content, link target, hardlinks


def test_extended_attributes_are_in_the_archive_and_the_manifest(
    awkward_project: tuple[ComposeProject, str], docker_runtime: DockerRuntime
) -> None:
    project, volume = awkward_project
    info = docker_runtime.volume(volume)
    assert info is not None
    root = Path(info.mountpoint)
    os.setxattr(root / "owned-0", "user.podshift.text", b"caf\xc3\xa9")
    os.setxattr(root / "owned-0", "user.podshift.binary", b"\x00\xff\x01")
    os.setxattr(root / "sticky", "user.podshift.dir", b"d")
    manifest = BackupStore(project.project_dir).create(project, docker_runtime, include_data=True, force=False)
    [archive] = manifest.archives
    recorded = {e.path: e.xattrs for e in archive.entries if e.xattrs}
    assert recorded["owned-0"] == {"user.podshift.text": "café", "user.podshift.binary": "\x00\udcff\x01"}
    assert recorded["sticky"] == {"user.podshift.dir": "d"}
    in_archive = scan_file(str(project.project_dir / ".docker-backup" / archive.archive), safe=True)
    assert {e.path: e.xattrs for e in in_archive if e.xattrs} == recorded


def test_permissions_and_second_backup_needs_force(
    awkward_project: tuple[ComposeProject, str], docker_runtime: DockerRuntime
) -> None:
    project, _ = awkward_project
    store = BackupStore(project.project_dir)
    store.create(project, docker_runtime, include_data=False, force=False)
    for p in [store.path, *store.path.rglob("*")]:
        assert p.stat().st_mode & 0o777 == (0o700 if p.is_dir() else 0o600), p
    before = (store.path / JSON_NAME).read_bytes()
    with pytest.raises(BackupError, match="already exists"):
        store.create(project, docker_runtime, include_data=False, force=False)
    assert (store.path / JSON_NAME).read_bytes() == before
    store.create(project, docker_runtime, include_data=True, force=True)
    assert store.verify() == []
    assert not list(project.project_dir.glob(".docker-backup.*")), "temporaries or the old backup were left"


@pytest.mark.parametrize(
    ("tamper", "named"),
    [
        ("flip", "changed config/.env"),
        ("truncate", "changed volumes/"),
        ("delete", "missing config/deploy.sh"),
        ("extra", "unexpected config/extra.txt"),
        ("manifest", "changed backup-manifest.json"),
    ],
)
def test_tampering_is_named_and_restore_refuses(
    awkward_project: tuple[ComposeProject, str], docker_runtime: DockerRuntime, tamper: str, named: str
) -> None:
    project, volume = awkward_project
    store = BackupStore(project.project_dir)
    store.create(project, docker_runtime, include_data=True, force=False)
    archive = next(store.path.glob("volumes/*.tar"))
    if tamper == "flip":
        f = store.path / "config/.env"
        data = bytearray(f.read_bytes())
        data[0] ^= 0x01
        f.write_bytes(bytes(data))
    elif tamper == "truncate":
        with open(archive, "r+b") as f:
            f.truncate(archive.stat().st_size // 2)
    elif tamper == "delete":
        (store.path / "config/deploy.sh").unlink()
    elif tamper == "extra":
        (store.path / "config/extra.txt").write_text("x")
    else:
        m = store.path / JSON_NAME
        edited = json.loads(m.read_bytes())
        edited["include_data"] = not edited["include_data"]
        m.write_bytes(json.dumps(edited).encode())
    problems = store.verify()
    assert any(named in p for p in problems), problems

    cli = backup_cli(project.project_dir, "--verify")
    assert cli.returncode == 1
    assert named in cli.stdout
    if tamper in ("truncate", "manifest"):
        with pytest.raises(BackupError):
            restore_volume(store, volume, docker_runtime, f"{volume}-never")
        assert docker_runtime.volume(f"{volume}-never") is None
    if tamper == "flip":
        with pytest.raises(BackupError, match="checksum"):
            restore_config(store, project, target_dir=project.project_dir / "restored")


def _crafted(kind: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:

        def add(name: str, type_: bytes = tarfile.REGTYPE, link: str = "", data: bytes = b"x") -> None:
            info = tarfile.TarInfo(name)
            info.type, info.linkname = type_, link
            info.size = len(data) if type_ == tarfile.REGTYPE else 0
            tar.addfile(info, io.BytesIO(data) if type_ == tarfile.REGTYPE else None)

        add("ok.txt")
        if kind == "dotdot":
            add("../escaped.txt")
        elif kind == "absolute":
            add("/tmp/podshift-escaped.txt")
        elif kind == "symlink":
            add("link", tarfile.SYMTYPE, link="/tmp")
            add("link/podshift-escaped.txt")
        elif kind == "hardlink":
            add("hl", tarfile.LNKTYPE, link="/etc/passwd")
        elif kind == "device":
            add("dev", tarfile.CHRTYPE)
    return buf.getvalue()


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "symlink", "hardlink", "device"])
def test_crafted_archives_are_refused_before_anything_is_written(
    awkward_project: tuple[ComposeProject, str], docker_runtime: DockerRuntime, kind: str
) -> None:
    project, volume = awkward_project
    store = BackupStore(project.project_dir)
    store.create(project, docker_runtime, include_data=True, force=False)
    # Swap in a crafted archive and make the manifest agree with it, so only the member checks stand in the way.
    import hashlib
    import json

    archive = next(store.path.glob("volumes/*.tar"))
    crafted = _crafted(kind)
    archive.write_bytes(crafted)
    data = json.loads((store.path / JSON_NAME).read_bytes())
    data["archives"][0].update(sha256=hashlib.sha256(crafted).hexdigest(), size=len(crafted))
    from podshift.backup.manifest import Manifest, sums

    manifest = Manifest.from_json(json.dumps(data).encode())
    body, text = manifest.to_json(), manifest.to_text()
    (store.path / JSON_NAME).write_bytes(body)
    (store.path / "backup-manifest.txt").write_bytes(text)
    (store.path / "backup-manifest.sha256").write_bytes(sums(body, text))
    (store.path / signing.SIG_NAME).write_bytes(signing.sign(sums(body, text)))  # as if the key had leaked

    target = f"{volume}-crafted"
    with pytest.raises(UnsafeArchive):
        restore_volume(store, volume, docker_runtime, target)
    assert docker_runtime.volume(target) is None, "a volume was created for a refused archive"
    assert not Path("/tmp/podshift-escaped.txt").exists()
    assert not (store.path.parent / "escaped.txt").exists()


def test_verify_only_writes_nothing(awkward_project: tuple[ComposeProject, str]) -> None:
    project, volume = awkward_project
    before = sorted(p.name for p in project.project_dir.iterdir())
    cli = backup_cli(project.project_dir, "--include-data", "--verify-only")
    assert cli.returncode == 0, cli.stderr
    assert "volume  " in cli.stdout
    assert volume in cli.stdout
    assert ".env  (sensitive)" in cli.stdout
    assert sorted(p.name for p in project.project_dir.iterdir()) == before


def test_a_concurrent_backup_refuses_naming_the_holder(awkward_project: tuple[ComposeProject, str]) -> None:
    project, _ = awkward_project
    with project_lock(project.project_dir, "migrate"):
        cli = backup_cli(project.project_dir)
    assert cli.returncode == 1
    assert f"pid {os.getpid()}: podshift migrate" in cli.stderr
    assert "Traceback" not in cli.stderr


def test_kill_9_leaves_the_previous_backup_usable(
    awkward_project: tuple[ComposeProject, str], docker_runtime: DockerRuntime
) -> None:
    project, _ = awkward_project
    store = BackupStore(project.project_dir)
    store.create(project, docker_runtime, include_data=True, force=False)
    good = (store.path / JSON_NAME).read_bytes()
    argv = backup_argv(project.project_dir, "--include-data", "--force")
    for delay in (0.3, 0.8, 1.5):
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        # Whatever was interrupted, a verified backup is in place (the old one, or a complete new one).
        BackupStore(project.project_dir).recover_interrupted()
        assert store.verify() == [], f"after kill -9 at {delay}s"
    rerun = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=REPO)
    assert rerun.returncode == 0, rerun.stderr
    assert store.verify() == []
    assert not list(project.project_dir.glob(".docker-backup.*"))
    assert (store.path / JSON_NAME).read_bytes() != good, "the re-run did not replace the backup"


def test_disk_full_keeps_the_previous_backup(docker_runtime: DockerRuntime, tmp_path: Path) -> None:
    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(small)], check=True)
    name = f"psfull{uuid.uuid4().hex[:8]}"
    volume = f"{name}_data"
    try:
        (small / "compose.yaml").write_text(
            f"name: {name}\nservices:\n  app:\n    image: localhost/podshift-helper:1\n    volumes: [data:/data]\n"
            "volumes:\n  data: {}\n"
        )
        project = load_project(small)
        docker_runtime.volume_create(volume, {"com.docker.compose.project": name})
        store = BackupStore(small)
        store.create(project, docker_runtime, include_data=True, force=False)  # small: fits
        good = (store.path / JSON_NAME).read_bytes()
        filled = docker_runtime.run(
            ensure_helper_image(docker_runtime),
            ["sh", "-c", "head -c 3000000 /dev/urandom > /v/big"],
            mounts=[Mount(volume, "/v")],
        )
        assert filled.rc == 0, filled.stderr
        cli = backup_cli(small, "--include-data", "--force")
        assert cli.returncode == 1
        assert "disk full" in cli.stderr
        assert "Traceback" not in cli.stderr
        assert (store.path / JSON_NAME).read_bytes() == good
        assert store.verify() == []
        assert not list(small.glob(".docker-backup.*")), "the temporary backup was left behind"
    finally:
        docker_runtime.volume_remove(volume, force=True)
        subprocess.run(["umount", str(small)], check=False)


@pytest.mark.parametrize("engine", ["docker"], indirect=True)
def test_cli_backup_and_verify_of_the_running_reference_stack(stack) -> None:  # type: ignore[no-untyped-def]
    from .conftest import http

    stack.provider.up()
    marker = f"record-{uuid.uuid4().hex}"
    http(stack.url("api", "/cgi-bin/records"), data=marker.encode())
    env = {**os.environ, **stack.env, "COMPOSE_PROJECT_NAME": stack.project.name}

    made = backup_cli(stack.project.project_dir, "--include-data", env=env)
    assert made.returncode == 0, made.stderr
    assert "backup written and verified" in made.stdout
    checked = backup_cli(stack.project.project_dir, "--verify", env=env)
    assert checked.returncode == 0, checked.stdout
    manifest = BackupStore(stack.project.project_dir).manifest()
    assert {a.name for a in manifest.archives if a.kind == "volume"} == set(stack.project.named_volumes)
    api = next(a for a in manifest.archives if a.name.endswith("_api-data"))
    assert any(e.path.startswith("records/") for e in api.entries)
    worker = next(a for a in manifest.archives if a.name.endswith("_worker-state"))
    assert {(e.path, e.uid, e.mode) for e in worker.entries if e.path == "jobs"} == {("jobs", 999, 0o600)}
    # The containers that were stopped for the read are running again, and the data is still served.
    assert all(c.status == "running" for c in stack.provider.ps())
    assert marker in http(stack.url("api", "/cgi-bin/records"))


def test_configuration_backup_needs_no_engine(awkward_project: tuple[ComposeProject, str]) -> None:
    """The backup to take when the engine is broken: configuration only, with Docker unreachable."""
    project, _ = awkward_project
    env = {**os.environ, "DOCKER_HOST": f"unix://{project.project_dir}/no-docker.sock"}
    made = backup_cli(project.project_dir, env=env)
    assert made.returncode == 0, made.stderr
    assert BackupStore(project.project_dir).verify() == []
    with_data = backup_cli(project.project_dir, "--include-data", "--force", env=env)
    assert with_data.returncode == 1
    assert "no-docker.sock: the socket does not exist" in with_data.stderr
    assert "Traceback" not in with_data.stderr
