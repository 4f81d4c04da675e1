"""Backups against accidents and hostile hands, on the real Docker engine: nothing silently lost, podshift's
own directories never archived, stopped containers always started again, every bad input one clear line."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import tarfile
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from podshift.backup.manifest import JSON_NAME, SUMS_NAME, TXT_NAME, sums
from podshift.backup.store import BackupError, BackupStore
from podshift.compose.model import ComposeProject, load_project
from podshift.images import ensure_helper_image
from podshift.runtimes import DockerRuntime, Mount
from podshift.runtimes.base import PROJECT_LABEL, SERVICE_LABEL

from ..conftest import REPO
from .test_backup import backup_argv, backup_cli

pytestmark = pytest.mark.xdist_group("docker")


class Project:
    """A throw-away compose project (prefix i9-) with one volume and, on request, running containers."""

    def __init__(self, runtime: DockerRuntime, compose: str = "") -> None:
        self.runtime = runtime
        self.name = f"i9-{uuid.uuid4().hex[:8]}"
        self.root = Path(tempfile.mkdtemp(prefix="i9-backup-"))
        self.volume = f"{self.name}_data"
        self.containers: list[str] = []
        self.volumes = [self.volume]
        (self.root / "compose.yaml").write_text(
            compose
            or (
                f"name: {self.name}\nservices:\n  app:\n    image: localhost/podshift-helper:1\n"
                "    volumes: [data:/data, .:/app]\nvolumes:\n  data: {}\n"
            )
        )
        runtime.volume_create(self.volume, {PROJECT_LABEL: self.name})
        filled = runtime.run(
            ensure_helper_image(runtime), ["sh", "-c", "echo hello > /v/file"], mounts=[Mount(self.volume, "/v")]
        )
        assert filled.rc == 0, filled.stderr

    @property
    def project(self) -> ComposeProject:
        return load_project(self.root)

    def start(
        self,
        *,
        service: str | None = "app",
        project: str | None = None,
        read_only: bool = False,
        command: tuple[str, ...] = ("sleep", "3600"),
        bind_project: bool = False,
    ) -> str:
        """A running container that mounts the volume, labelled as the project's service (or another's)."""
        name = f"i9-{uuid.uuid4().hex[:8]}"
        labels = {PROJECT_LABEL: project or self.name}
        if service:
            labels[SERVICE_LABEL] = service
        c = self.runtime.client.containers.run(
            ensure_helper_image(self.runtime),
            list(command),
            name=name,
            detach=True,
            labels=labels,
            volumes={
                self.volume: {"bind": "/data", "mode": "ro" if read_only else "rw"},
                **({str(self.root): {"bind": "/app", "mode": "rw"}} if bind_project else {}),
            },
            network_disabled=True,
        )
        self.containers.append(c.name)
        return str(c.name)

    def status(self, name: str) -> str:
        return str(self.runtime.client.containers.get(name).status)

    def close(self) -> None:
        for c in self.containers:
            self.runtime.remove_container(c)
        for v in self.volumes:
            self.runtime.volume_remove(v, force=True)
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def made(docker_runtime: DockerRuntime) -> Iterator[Project]:
    p = Project(docker_runtime)
    try:
        yield p
    finally:
        p.close()


# -- what a backup holds ---------------------------------------------------------------------------------------
def test_a_project_bound_into_its_service_never_archives_podshifts_own_dirs(made: Project) -> None:
    """`.:/app` is common: each backup used to swallow the previous one and its own temporary directory."""
    sizes = []
    for run in range(3):
        cli = backup_cli(made.root, "--include-data", *(["--force"] if run else []))
        assert cli.returncode == 0, cli.stderr
        manifest = BackupStore(made.root).manifest()
        [bind] = [a for a in manifest.archives if a.kind == "bind"]
        names = [e.path for e in bind.entries]
        assert not [n for n in names if n.startswith((".docker-backup", ".podshift"))], names
        sizes.append(bind.size)
    assert sizes[0] == sizes[1] == sizes[2], f"the bind archive grew: {sizes}"


def test_a_backup_with_fewer_volumes_than_declared_is_refused(made: Project) -> None:
    assert backup_cli(made.root, "--include-data").returncode == 0
    before = (made.root / ".docker-backup" / JSON_NAME).read_bytes()
    made.runtime.volume_remove(made.volume, force=True)  # e.g. the wrong --engine: the volume is not there
    cli = backup_cli(made.root, "--include-data", "--force")
    assert cli.returncode == 1
    assert f"missing {made.volume}" in cli.stderr
    assert "--allow-fewer-volumes" in cli.stderr
    assert (made.root / ".docker-backup" / JSON_NAME).read_bytes() == before, "the good backup was replaced"
    allowed = backup_cli(made.root, "--include-data", "--force", "--allow-fewer-volumes")
    assert allowed.returncode == 0, allowed.stderr


def test_driver_opts_volumes_bind_is_read_from_its_device_and_tmpfs_is_refused(docker_runtime: DockerRuntime) -> None:
    device = Path(tempfile.mkdtemp(prefix="i9-device-"))
    (device / "payload").write_text("bound data\n")
    name = f"i9-{uuid.uuid4().hex[:8]}"
    compose = (
        f"name: {name}\nservices:\n  app:\n    image: localhost/podshift-helper:1\n    volumes: [bound:/b]\n"
        f"volumes:\n  bound:\n    driver_opts: {{type: none, o: bind, device: {device}}}\n"
    )
    p = Project(docker_runtime, compose)
    try:
        bound = f"{name}_bound"
        docker_runtime.client.volumes.create(
            name=bound,
            driver="local",
            driver_opts={"type": "none", "o": "bind", "device": str(device)},
            labels={PROJECT_LABEL: name},
        )
        p.volumes.append(bound)
        manifest = BackupStore(p.root).create(p.project, docker_runtime, include_data=True, force=False)
        [archive] = [a for a in manifest.archives if a.name == bound]
        assert {e.path for e in archive.entries} >= {"payload"}, "the bind volume was backed up empty"
        (p.root / "compose.yaml").write_text(compose.replace("type: none, o: bind", "type: tmpfs, o: size=1m"))
        with pytest.raises(BackupError, match="tmpfs"):
            BackupStore(p.root).create(p.project, docker_runtime, include_data=True, force=True)
    finally:
        p.close()
        shutil.rmtree(device, ignore_errors=True)


def test_a_running_writer_outside_the_project_is_refused_by_name(made: Project) -> None:
    outsider = made.start(service=None, project="i9-someone-else")
    made.start(service=None, project="i9-reader", read_only=True)  # a reader does no harm
    cli = backup_cli(made.root, "--include-data")
    assert cli.returncode == 1
    assert outsider in cli.stderr
    assert "Traceback" not in cli.stderr
    assert made.status(outsider) == "running", "podshift stops only the project's own containers"


# -- stopped containers run again ------------------------------------------------------------------------------
def test_sigterm_during_the_copy_starts_the_containers_again(made: Project) -> None:
    app = made.start()
    big = made.runtime.run(
        ensure_helper_image(made.runtime),
        ["sh", "-c", "i=0; while [ $i -lt 40 ]; do head -c 8000000 /dev/urandom > /v/big$i; i=$((i+1)); done"],
        mounts=[Mount(made.volume, "/v")],
    )
    assert big.rc == 0, big.stderr
    argv = backup_argv(made.root, "--include-data")
    proc = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    record = made.root / ".podshift" / "stopped.json"
    for _ in range(200):
        if record.exists():
            break
        time.sleep(0.05)
    assert record.exists(), "the stopped containers were not recorded before stopping"
    assert json.loads(record.read_text())["containers"] == [app]
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err
    assert "interrupted by SIGTERM" in err
    assert made.status(app) == "running"
    assert not record.exists()


def test_a_busy_writer_stops_once_for_the_whole_read_and_the_backup_is_one_moment(
    made: Project, caplog: pytest.LogCaptureFixture
) -> None:
    """It writes the volume and the project directory (`.:/app`): stopped once, both read as it left them."""
    # Each file replaced whole (rename), in this order: stopped anywhere, log and i9-seen end at the counter
    # or one behind it.  Restarted between two reads, the loop would begin again at 0.
    loop = (
        "trap 'exit 0' TERM; i=0; while true; do echo $i > /data/c.new && mv /data/c.new /data/counter; "
        "echo $i >> /data/log; echo $i > /app/s.new && mv /app/s.new /app/i9-seen; i=$((i+1)); sleep 0.01; done"
    )
    app = made.start(command=("sh", "-c", loop), bind_project=True)
    store = BackupStore(made.root)
    with caplog.at_level(logging.INFO, logger="podshift"):
        manifest = store.create(made.project, made.runtime, include_data=True, force=False)
    assert caplog.text.count(f"stopping {app} while") == 1, caplog.text
    assert made.status(app) == "running"
    with tarfile.open(store.path / "volumes" / f"{made.volume}.tar") as tar:
        members = {m.name.removeprefix("./"): m for m in tar.getmembers()}
        counter, log = (tar.extractfile(members[n]).read() for n in ("counter", "log"))  # type: ignore[union-attr]
    with tarfile.open(store.path / "binds" / "0.tar") as tar:
        seen = tar.extractfile("./i9-seen").read()  # type: ignore[union-attr]
    last = int(counter)
    assert last > 0
    assert int(log.splitlines()[-1]) in (last - 1, last), "the volume's files were archived at different moments"
    assert int(seen) in (last - 1, last), "the volume and the bind-mounted directory were read at different moments"
    assert store.verify() == []
    assert {a.kind for a in manifest.archives} == {"volume", "bind"}


def test_the_next_run_starts_what_a_killed_run_stopped(made: Project) -> None:
    app = made.start()
    made.runtime.stop(app)
    state = made.root / ".podshift"
    state.mkdir(mode=0o700)
    # What a run killed with -9 while the container was stopped leaves behind (its pid no longer exists).
    dead = subprocess.Popen(["true"])
    dead.wait()
    (state / "stopped.json").write_text(json.dumps({"engine": "docker", "pid": dead.pid, "containers": [app]}))
    cli = backup_cli(made.root, "--include-data")
    assert cli.returncode == 0, cli.stderr
    assert made.status(app) == "running"
    assert not (state / "stopped.json").exists()


# -- verify and the backup directory itself ---------------------------------------------------------------------
@pytest.mark.parametrize("change", ["empty-dir", "fifo", "file-mode", "dir-mode", "symlink"])
def test_verify_sees_added_entries_of_any_type_and_mode_changes(made: Project, change: str) -> None:
    assert backup_cli(made.root).returncode == 0
    backup = made.root / ".docker-backup"
    if change == "empty-dir":
        (backup / "config" / "i9-empty").mkdir(mode=0o700)
    elif change == "fifo":
        os.mkfifo(backup / "config" / "i9-fifo", 0o600)
    elif change == "file-mode":
        (backup / "config" / "compose.yaml").chmod(0o644)
    elif change == "dir-mode":
        (backup / "config").chmod(0o755)
    else:
        (backup / "config" / "i9-link").symlink_to("/etc/passwd")
    cli = backup_cli(made.root, "--verify")
    assert cli.returncode == 1, cli.stdout
    expected = {
        "empty-dir": "i9-empty",
        "fifo": "i9-fifo (FIFO)",
        "file-mode": "changed mode of config/compose.yaml",
        "dir-mode": "changed mode of config/",
        "symlink": "i9-link (symlink)",
    }[change]
    assert expected in cli.stdout


def test_the_backup_directory_itself_symlinked_empty_or_left_mid_rename(made: Project, tmp_path: Path) -> None:
    backup = made.root / ".docker-backup"
    backup.mkdir()  # empty, as a permissions fix makes it: not "a backup already exists"
    made_ok = backup_cli(made.root)
    assert made_ok.returncode == 0, made_ok.stderr
    os.rename(backup, made.root / f".docker-backup.old-{os.getpid()}")  # a crash between the two renames
    checked = backup_cli(made.root, "--verify")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "verified" in checked.stdout
    os.rename(made.root / f".docker-backup.old-{os.getpid()}", tmp_path / "elsewhere")
    backup.symlink_to(tmp_path / "elsewhere")
    for args in (("--verify",), ("--force",)):
        cli = backup_cli(made.root, *args)
        assert cli.returncode == 1
        assert "symlink" in cli.stderr
        assert "None" not in cli.stderr
        assert "Traceback" not in cli.stderr


# -- one line, never a traceback ---------------------------------------------------------------------------------
def _rewrite(backup: Path, body: bytes) -> None:
    text = (backup / TXT_NAME).read_bytes()
    (backup / JSON_NAME).write_bytes(body)
    (backup / SUMS_NAME).write_bytes(sums(body, text))


@pytest.mark.parametrize("bad", ["invalid-json", "unknown-key", "sums-line"])
def test_a_malformed_manifest_is_one_line(made: Project, bad: str) -> None:
    assert backup_cli(made.root).returncode == 0
    backup = made.root / ".docker-backup"
    if bad == "invalid-json":
        _rewrite(backup, b"{not json")
    elif bad == "unknown-key":
        data = json.loads((backup / JSON_NAME).read_bytes())
        data["i9-unknown"] = 1
        _rewrite(backup, json.dumps(data).encode())
    else:
        (backup / SUMS_NAME).write_bytes(b"garbage  line  with  parts\n")
    cli = backup_cli(made.root, "--verify")
    assert cli.returncode == 1
    assert "Traceback" not in cli.stderr
    assert "backup-manifest" in cli.stdout + cli.stderr


def test_a_bind_of_the_host_root_and_a_very_deep_tree_are_one_line(made: Project) -> None:
    deep = made.root / "deep"
    fd = os.open(made.root, os.O_RDONLY)  # built with dir fds, one level at a time
    for name in ["deep"] + ["d"] * 1100:
        os.mkdir(name, dir_fd=fd)
        nxt = os.open(name, os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = nxt
    os.close(fd)
    try:
        cli = backup_cli(made.root, "--include-data")
        assert "RecursionError" not in cli.stderr
        assert cli.returncode == 0, cli.stderr
    finally:
        subprocess.run(["rm", "-rf", str(deep)], check=True)  # shutil.rmtree recurses (Python 3.11)
    (made.root / "compose.yaml").write_text(
        f"name: {made.name}\nservices:\n  app:\n    image: localhost/podshift-helper:1\n    volumes: ['/:/host:ro']\n"
    )
    plan = backup_cli(made.root, "--include-data", "--verify-only")
    assert plan.returncode == 1
    assert "host's root directory" in plan.stderr
    assert "Traceback" not in plan.stderr
    subprocess.run(["rm", "-rf", str(deep)], check=True)  # shutil.rmtree recurses (Python 3.11)


def test_a_read_only_project_directory_is_one_line(made: Project) -> None:
    subprocess.run(["mount", "--bind", str(made.root), str(made.root)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(made.root)], check=True)
        cli = backup_cli(made.root)
        assert cli.returncode == 1
        assert "Read-only file system" in cli.stderr
        assert "Traceback" not in cli.stderr
    finally:
        subprocess.run(["umount", str(made.root)], check=False)


def test_verify_during_a_concurrent_forced_backup_reports_no_false_problem(made: Project) -> None:
    """The readiness check reads the backup without the lock: a `backup --force` meanwhile must not fail it."""
    assert backup_cli(made.root, "--include-data").returncode == 0
    store = BackupStore(made.root)
    argv = backup_argv(made.root, "--include-data", "--force")
    checks = 0
    for _ in range(3):
        with subprocess.Popen(argv, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as proc:
            while proc.poll() is None:
                assert store.verify() == []
                checks += 1
        assert proc.returncode == 0
    assert checks > 3


def test_data_that_changes_while_it_is_read_fails_the_backup_before_it_replaces_anything(made: Project) -> None:
    """A writer podshift cannot stop (here: a host process) makes the walk and the archive disagree."""
    assert backup_cli(made.root, "--include-data").returncode == 0
    good = (made.root / ".docker-backup" / JSON_NAME).read_bytes()
    for i in range(3000):  # enough files that the read takes a while
        (made.root / f"i9-{i}.txt").write_text("x" * 100)
    busy = made.root / "i9-busy.txt"
    stop = threading.Event()

    def write() -> None:
        n = 0
        while not stop.is_set():
            busy.write_text(str(n))
            n += 1
            time.sleep(0.002)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        cli = backup_cli(made.root, "--include-data", "--force")
    finally:
        stop.set()
        writer.join()
    assert cli.returncode == 1, cli.stdout
    assert "changed while they were read" in cli.stderr
    assert "Traceback" not in cli.stderr
    assert (made.root / ".docker-backup" / JSON_NAME).read_bytes() == good
