"""Restore against a hostile or careless hand, on the real engines: crafted archives, edited manifests,
planted symlinks, another host's key, device nodes, sparse files."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from podshift.backup import signing
from podshift.backup.manifest import JSON_NAME, SUMS_NAME, TXT_NAME, Manifest, sums
from podshift.backup.members import UnsafeArchive
from podshift.backup.restore import restore_config, restore_volume
from podshift.backup.store import BackupError, BackupStore
from podshift.compose.model import ComposeProject
from podshift.errors import PodshiftError
from podshift.images import ensure_helper_image
from podshift.locking import project_lock
from podshift.paths import STATE_DIR_ENV
from podshift.runtimes import DockerRuntime, Mount, PodmanRuntime, Runtime

from .test_backup import awkward, backup_cli

pytestmark = pytest.mark.xdist_group("docker")


@pytest.fixture
def project(docker_runtime: DockerRuntime) -> Iterator[tuple[ComposeProject, str]]:
    with awkward(docker_runtime) as made:
        yield made


def rewrite_manifest(store: BackupStore, edit: dict[str, object] | None = None, *, resign: bool) -> None:
    """Rewrite the manifest with *edit* applied, sums recomputed; re-signed only with *resign* (a leaked key)."""
    data = json.loads((store.path / JSON_NAME).read_bytes())
    for key, value in (edit or {}).items():
        target, _, field = key.rpartition(".")
        obj = data
        for part in target.split(".") if target else []:
            obj = obj[int(part)] if part.isdigit() else obj[part]
        obj[field] = value
    try:
        manifest = Manifest.from_json(json.dumps(data).encode())
        body, text = manifest.to_json(), manifest.to_text()
    except (ValueError, TypeError):  # a manifest podshift refuses to load: written as it is
        body, text = json.dumps(data).encode(), (store.path / TXT_NAME).read_bytes()
    (store.path / JSON_NAME).write_bytes(body)
    (store.path / TXT_NAME).write_bytes(text)
    (store.path / SUMS_NAME).write_bytes(sums(body, text))
    if resign:
        (store.path / signing.SIG_NAME).write_bytes(signing.sign(sums(body, text)))


def swap_archive(store: BackupStore, crafted: bytes) -> None:
    archive = next(store.path.glob("volumes/*.tar"))
    archive.write_bytes(crafted)
    rewrite_manifest(
        store,
        {"archives.0.sha256": hashlib.sha256(crafted).hexdigest(), "archives.0.size": len(crafted)},
        resign=True,
    )


def crafted_escape(escape_dir: Path, spelling: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:

        def add(name: str, kind: bytes, link: str = "") -> None:
            info = tarfile.TarInfo(name)
            info.type, info.linkname, info.mode = kind, link, 0o4755
            body = b"#!/bin/sh\nid\n" if kind == tarfile.REGTYPE else b""
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body) if body else None)

        if spelling == "dot":
            add(".", tarfile.SYMTYPE, str(escape_dir))
            add("planted", tarfile.REGTYPE)
        else:
            add("a", tarfile.DIRTYPE)
            add("a//link", tarfile.SYMTYPE, str(escape_dir))
            add("a/link/planted", tarfile.REGTYPE)
    return buf.getvalue()


@pytest.mark.parametrize("spelling", ["dot", "double-slash"])
@pytest.mark.parametrize("engine_name", ["docker", "podman"])
def test_a_crafted_archive_escapes_into_no_engine(
    project: tuple[ComposeProject, str],
    docker_runtime: DockerRuntime,
    podman_runtime: PodmanRuntime,
    tmp_path: Path,
    spelling: str,
    engine_name: str,
) -> None:
    """Rootful Podman's `volume import` extracts on the host as root: only podshift's checks stand between."""
    proj, volume = project
    store = BackupStore(proj.project_dir)
    store.create(proj, docker_runtime, include_data=True, force=False)
    escape_dir = tmp_path / "i9-escape"
    escape_dir.mkdir()
    swap_archive(store, crafted_escape(escape_dir, spelling))
    runtime: Runtime = docker_runtime if engine_name == "docker" else podman_runtime
    target = f"i9-{volume}-crafted"
    try:
        with pytest.raises(UnsafeArchive):
            restore_volume(store, volume, runtime, target)
        assert runtime.volume(target) is None, "a volume was created for a refused archive"
    finally:
        runtime.volume_remove(target, force=True)
    assert list(escape_dir.iterdir()) == []


def test_an_edited_manifest_is_tampering_even_with_its_sums_recomputed(
    project: tuple[ComposeProject, str], tmp_path: Path
) -> None:
    proj, _ = project
    store = BackupStore(proj.project_dir)
    made = backup_cli(proj.project_dir)
    assert made.returncode == 0, made.stderr
    victim = tmp_path / "i9-victim"
    rewrite_manifest(store, {"config.0.source": str(victim), "config.0.mode": 0o4755}, resign=False)
    checked = backup_cli(proj.project_dir, "--verify")
    assert checked.returncode == 1
    assert "does not match: the manifest was changed" in checked.stdout
    trusted = backup_cli(proj.project_dir, "--verify", "--trust-backup")
    assert trusted.returncode == 1, "tampering is refused even when the backup is trusted"
    with pytest.raises(BackupError, match="tampered"):
        restore_config(store, proj, trust_backup=True)
    assert not victim.exists()


def test_restore_writes_only_where_the_current_model_allows(
    project: tuple[ComposeProject, str], tmp_path: Path
) -> None:
    """Even a validly signed manifest (a leaked key) cannot send configuration outside the project."""
    proj, _ = project
    store = BackupStore(proj.project_dir)
    assert backup_cli(proj.project_dir).returncode == 0
    victim = tmp_path / "i9-victim-outside"
    rewrite_manifest(store, {"config.0.source": str(victim)}, resign=True)
    with pytest.raises(BackupError, match="outside the project directory"):
        restore_config(store, proj)
    assert not victim.exists()
    rewrite_manifest(store, {"config.0.source": f"{proj.project_dir}/sub/../../escaped"}, resign=True)
    with pytest.raises(BackupError, match="not absolute and normal"):
        restore_config(store, proj)
    rewrite_manifest(
        store, {"config.0.path": "../escaped", "config.0.source": str(proj.project_dir / "x")}, resign=True
    )
    with pytest.raises(BackupError, match=r"'\.\.' path"):
        restore_config(store, proj)


def test_restore_drops_setuid_and_ignores_planted_temporaries(
    project: tuple[ComposeProject, str], tmp_path: Path
) -> None:
    proj, _ = project
    store = BackupStore(proj.project_dir)
    deploy = proj.project_dir / "deploy.sh"
    deploy.chmod(0o6755)
    assert backup_cli(proj.project_dir).returncode == 0
    victim = tmp_path / "i9-victim-file"
    victim.write_text("precious\n")
    victim.chmod(0o600)
    for name in ("deploy.sh", ".env", "compose.yaml"):  # the old fixed temporary names
        (proj.project_dir / f".{name}.podshift-restore").symlink_to(victim)
    deploy.write_text("changed\n")
    restored = restore_config(store, proj)
    assert deploy in restored
    assert deploy.read_text() == "#!/bin/sh\necho deploy\n"
    assert deploy.stat().st_mode & 0o7777 == 0o755, "setuid/setgid must not be restored outside a volume"
    assert victim.read_text() == "precious\n"
    assert victim.stat().st_mode & 0o777 == 0o600
    assert not list(proj.project_dir.glob(".podshift-tmp-*")), "a private temporary directory was left"


def test_another_key_needs_trust_and_a_missing_signature_is_named(
    project: tuple[ComposeProject, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    proj, _ = project
    store = BackupStore(proj.project_dir)
    monkeypatch.setenv(STATE_DIR_ENV, str(tmp_path / "i9-state-a"))
    store.create(proj, None, include_data=False, force=False)
    key = tmp_path / "i9-state-a" / signing.KEY_NAME
    assert key.stat().st_mode & 0o777 == 0o600
    assert key.parent.stat().st_mode & 0o777 == 0o700
    assert store.verify() == []
    monkeypatch.setenv(STATE_DIR_ENV, str(tmp_path / "i9-state-b"))  # "another host": no key at all
    [problem] = store.verify()
    assert "signature cannot be checked" in problem
    assert "--trust-backup" in problem
    assert store.verify(trust_backup=True) == []
    with pytest.raises(BackupError, match="cannot be checked"):
        restore_config(store, proj, target_dir=tmp_path / "out")
    assert restore_config(store, proj, target_dir=tmp_path / "out", trust_backup=True)
    signing.load_key(create=True)  # the key changed
    [problem] = store.verify()
    assert "signed with another key" in problem
    (store.path / signing.SIG_NAME).unlink()
    [problem] = store.verify(trust_backup=False)
    assert "no backup-manifest.sig" in problem


def test_the_lock_is_never_written_through_a_planted_symlink(
    project: tuple[ComposeProject, str], tmp_path: Path
) -> None:
    proj, _ = project
    victim = tmp_path / "i9-lock-victim"
    victim.write_text("precious\n")
    (proj.project_dir / ".podshift.lock").symlink_to(victim)  # where the lock used to be
    with project_lock(proj.project_dir, "backup"):
        pass
    assert victim.read_text() == "precious\n"
    state = proj.project_dir / ".podshift"
    (state / "lock").unlink()
    (state / "lock").symlink_to(victim)
    with pytest.raises(PodshiftError, match="symlink"), project_lock(proj.project_dir, "backup"):
        pass
    assert victim.read_text() == "precious\n"
    cli = backup_cli(proj.project_dir)
    assert cli.returncode == 1
    assert "lock" in cli.stderr
    assert "Traceback" not in cli.stderr


def test_a_device_node_is_refused_at_backup_naming_it(
    project: tuple[ComposeProject, str], docker_runtime: DockerRuntime
) -> None:
    proj, volume = project
    made = docker_runtime.run(
        ensure_helper_image(docker_runtime), ["sh", "-c", "mknod /v/i9-null c 1 3"], mounts=[Mount(volume, "/v")]
    )
    assert made.rc == 0, made.stderr
    cli = backup_cli(proj.project_dir, "--include-data")
    assert cli.returncode == 1
    assert "device node(s) 'i9-null'" in cli.stderr
    assert "Traceback" not in cli.stderr
    assert not (proj.project_dir / ".docker-backup").exists()


@pytest.mark.parametrize("engine_name", ["docker", "podman"])
def test_the_direct_restore_keeps_sparse_files_sparse(
    project: tuple[ComposeProject, str], docker_runtime: DockerRuntime, podman_runtime: PodmanRuntime, engine_name: str
) -> None:
    """Root restores Docker and rootful Podman volumes with podshift's own extractor, holes kept."""
    proj, volume = project
    store = BackupStore(proj.project_dir)
    store.create(proj, docker_runtime, include_data=True, force=False)
    runtime: Runtime = docker_runtime if engine_name == "docker" else podman_runtime
    target = f"i9-{volume}-sparse"
    restore_volume(store, volume, runtime, target)
    try:
        info = runtime.volume(target)
        assert info is not None
        direct = runtime.direct_path(info)
        assert direct is not None, f"root restores {runtime.label} volumes directly"
        st = os.stat(direct / "sparse")
        assert st.st_size > 5_000_000
        assert st.st_blocks * 512 < 1_000_000, f"restored dense: {st.st_blocks * 512} bytes allocated"
    finally:
        runtime.volume_remove(target, force=True)


def test_a_symlinked_config_file_is_backed_up_and_restored_as_the_symlink(project: tuple[ComposeProject, str]) -> None:
    proj, _ = project
    env = proj.project_dir / ".env"
    real = proj.project_dir / "real"
    real.mkdir()
    env.rename(real / "app.env")
    env.symlink_to("real/app.env")
    store = BackupStore(proj.project_dir)
    assert backup_cli(proj.project_dir).returncode == 0
    assert store.verify() == []
    manifest = store.manifest()
    recorded = {c.source: c for c in manifest.config}
    assert recorded[str(env)].link == "real/app.env"
    assert recorded[str(real / "app.env")].sensitive, "the file behind a sensitive link is sensitive too"
    env.unlink()
    (real / "app.env").write_text("CHANGED=1\n")
    restore_config(store, proj)
    assert os.readlink(env) == "real/app.env"
    assert env.read_text() == "PASSWORD=hunter2\n"


def test_a_configuration_files_mtime_comes_back_to_the_nanosecond_and_a_hostile_one_is_refused(
    project: tuple[ComposeProject, str], tmp_path: Path
) -> None:
    proj, _ = project
    store = BackupStore(proj.project_dir)
    deploy = proj.project_dir / "deploy.sh"
    exact = 1_795_687_662_300_001_100  # a float of seconds holds this only to ~240 ns
    os.utime(deploy, ns=(exact, exact))
    assert backup_cli(proj.project_dir).returncode == 0
    restore_config(store, proj, target_dir=tmp_path / "out")
    assert (tmp_path / "out" / "deploy.sh").stat().st_mtime_ns == exact

    # Consistent and signed (a leaked key), and still input: refused before any file is written. The
    # hostile entry is the last one, so that a check made while writing would come too late.
    last = len(store.manifest().config) - 1
    hostile: list[dict[str, object]] = [
        {f"config.{last}.mtime_ns": 2**70},
        {f"config.{last}.mtime_ns": "1795687662300001100"},
        {f"config.{last}.mtime": float("inf"), f"config.{last}.mtime_ns": None},
        {f"config.{last}.mtime": 1e300, f"config.{last}.mtime_ns": None},
        {f"config.{last}.mtime": 10**400, f"config.{last}.mtime_ns": None},
        {f"config.{last}.mtime": True, f"config.{last}.mtime_ns": None},
    ]
    for edit in hostile:
        rewrite_manifest(store, edit, resign=True)
        with pytest.raises(BackupError, match="not a manifest this podshift wrote"):
            restore_config(store, proj, target_dir=tmp_path / "hostile")
        assert not (tmp_path / "hostile").exists(), f"{edit}: a file was written before the refusal"
        with pytest.raises(BackupError, match="not a manifest this podshift wrote"):
            store.verify()  # backup --verify refuses it too (before, it passed what restore refused)
