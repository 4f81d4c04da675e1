"""`podshift rollback` on the real engines, from a stack moved to Podman by hand.

The "migrated" state is made as a user would make it without podshift: the
reference stack runs on Docker and gets records, `podshift backup
--include-data`, `docker compose stop` and its network removed, the volumes'
data copied into Podman volumes, `podman-compose up`, more records under
Podman.  Then `podshift rollback` (a child process, as a user runs it) must
bring every record back under Docker.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from podshift.backup.store import BackupStore
from podshift.commands import run
from podshift.compose import load_project
from podshift.compose.model import ComposeProject
from podshift.compose.provider import DockerComposeProvider, PodmanComposeProvider
from podshift.drill import free_ports
from podshift.errors import PodshiftError
from podshift.rollback.podman_side import find_project, take_down
from podshift.rollback.snapshot import PodmanSnapshot
from podshift.rollback.volumes import compare_since, read_entries
from podshift.runtimes import DockerRuntime, PodmanRuntime
from podshift.runtimes.base import PROJECT_LABEL
from podshift.runtimes.podman import PODMAN_PROJECT_LABEL
from podshift.steps import StepJournal

from ..conftest import EXAMPLE, REPO
from .conftest import build_base_image, http
from .private_dockerd import PrivateDockerd, private_dockerd
from .terminal import on_terminal
from .test_migrate import open_tun  # noqa: F401 - the fixture, shared with the migration's tests

pytestmark = pytest.mark.xdist_group("rollback")

#: This issue's port range (21200-21299), subnets (10.12.0.0/16) and name prefix; an engineer running these
#: beside another's run picks their own (``PODSHIFT_TEST_PORTS=21320-21399 PODSHIFT_TEST_NET=113
#: PODSHIFT_TEST_PREFIX=s3-``), so neither removes what the other made.
_low, _high = os.environ.get("PODSHIFT_TEST_PORTS", "21200-21299").split("-")
PORTS = range(int(_low), int(_high) + 1)
NET = int(os.environ.get("PODSHIFT_TEST_NET", "12"))
PREFIX = os.environ.get("PODSHIFT_TEST_PREFIX", "i12-")


@dataclass
class Moved:
    """A phoenix-hydra copy that was moved from Docker to Podman by hand."""

    root: Path
    project_dir: Path
    name: str
    env: dict[str, str]
    ports: dict[str, int]
    docker: DockerRuntime
    podman: PodmanRuntime
    before: list[str] = field(default_factory=list)  # records written under Docker
    after: list[str] = field(default_factory=list)  # records written under Podman

    @property
    def project(self) -> ComposeProject:
        return load_project(self.project_dir, env=self.env)

    def url(self, service: str, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.ports[service]}{path}"

    def write(self, n: int) -> list[str]:
        written = [f"rec-{uuid.uuid4().hex[:12]}" for _ in range(n)]
        for r in written:
            assert "stored" in http(self.url("api", "/cgi-bin/records"), data=r.encode())
        return written

    def records(self) -> set[str]:
        return set(http(self.url("api", "/cgi-bin/records")).split())

    def cli(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        """`podshift ARGS --project-dir DIR` in a child process, as a user runs it (no terminal)."""
        return subprocess.run(
            [sys.executable, "-m", "podshift.cli", *args, "--project-dir", str(self.project_dir)],
            env=self.env_for_cli(),
            capture_output=True,
            text=True,
            check=False,
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            timeout=timeout,
        )

    def env_for_cli(self) -> dict[str, str]:
        env = {**os.environ, **self.env}
        if self.podman.run_as is None:
            env.pop("PODSHIFT_ROOTLESS_USER", None)  # the rollback's target is rootful Podman
        return env


def _rootless_args(moved: Moved) -> list[str]:
    return ["--rootless-user", moved.podman.run_as.user] if moved.podman.run_as is not None else []


def _make(docker: DockerRuntime, podman: PodmanRuntime) -> Moved:
    root = Path(tempfile.mkdtemp(prefix=f"{PREFIX}rollback-"))
    root.chmod(0o755)
    project_dir = root / "stack"
    shutil.copytree(EXAMPLE, project_dir)
    name = f"{PREFIX}{uuid.uuid4().hex[:8]}"
    compose = project_dir / "docker-compose.yml"
    # Own project name and image names: the cleanup test removes the images it carried.
    text = compose.read_text().replace("name: phoenix-hydra", f"name: {name}")
    compose.write_text(text.replace("localhost/phoenix-hydra-", f"localhost/{PREFIX}phoenix-"))
    data_dir = root / "data"
    data_dir.mkdir()
    ports = dict(zip(("api", "web", "gateway", "worker"), free_ports(4, random.sample(PORTS, len(PORTS))), strict=True))
    env = {f"PHOENIX_{s.upper()}_PORT": str(p) for s, p in ports.items()}
    env |= {"PHOENIX_SUBNET": f"10.{NET}.{random.randint(1, 254)}.0/24", "PHOENIX_DATA_DIR": str(data_dir)}  # noqa: S311
    return Moved(root, project_dir, name, env, ports, docker, podman)


def _move_to_podman_by_hand(moved: Moved) -> None:
    """What a user does without podshift: stop Docker's stack, drop its network, copy the data, podman-compose up."""
    project = moved.project
    docker_provider = DockerComposeProvider(project, moved.docker)
    docker_provider._run("stop")
    for n in moved.docker.project_networks(moved.name):
        moved.docker.client.networks.get(n.id).remove()
    if moved.podman.run_as is not None:
        pw = moved.podman.run_as
        os.chown(moved.env["PHOENIX_DATA_DIR"], pw.uid, -1)  # the rootless user's containers write there
    for volume in project.named_volumes:
        key = volume.removeprefix(f"{moved.name}_")
        moved.podman.volume_create(
            volume, {PROJECT_LABEL: moved.name, PODMAN_PROJECT_LABEL: moved.name, "com.docker.compose.volume": key}
        )
        moved.podman.volume_import(volume, moved.docker.volume_export(volume))
    build_base_image(moved.project_dir, moved.podman)
    provider = PodmanComposeProvider(project, moved.podman)
    try:
        provider.up()
    finally:
        provider.close()


def _remove_everything(moved: Moved) -> None:
    """Everything the test made, on both engines; each part is tried even when another fails."""
    project_name, docker, podman = moved.name, moved.docker, moved.podman
    parts = [
        lambda: take_down(podman, project_name),
        lambda: [podman.volume_remove(v.name, force=True) for v in podman.project_volumes(project_name)],
        lambda: [docker.remove_container(c.name) for c in docker.project_containers(project_name)],
        lambda: [docker.client.networks.get(n.id).remove() for n in docker.project_networks(project_name)],
        lambda: [
            docker.volume_remove(v.name, force=True)
            for v in docker.client.volumes.list()
            if v.name.startswith(project_name)
        ],
    ]
    errors = []
    for part in parts:
        for attempt in range(3):
            try:
                part()
                break
            except Exception as e:  # cleanup goes on whatever failed; the first error is raised at the end
                # A killed `docker compose` leaves the daemon finishing its requests: objects come and go.
                if attempt == 2:
                    errors.append(e)
                time.sleep(2)
    shutil.rmtree(moved.root, ignore_errors=True)
    if errors:
        raise errors[0]


@pytest.fixture(params=["podman", "podman-rootless"])
def podman_target(request: pytest.FixtureRequest) -> PodmanRuntime:
    fixture = "podman_runtime" if request.param == "podman" else "rootless_podman_runtime"
    runtime: PodmanRuntime = request.getfixturevalue(fixture)
    if runtime.rootless:
        request.getfixturevalue("open_tun")  # rootless port publishing needs /dev/net/tun 0666 (0600 here)
    return runtime


@pytest.fixture
def on_docker(docker_runtime: DockerRuntime, podman_target: PodmanRuntime) -> Iterator[Moved]:
    """The stack up on Docker with records, and a backup with data (nothing on Podman yet)."""
    moved = _make(docker_runtime, podman_target)
    try:
        build_base_image(moved.project_dir, docker_runtime)
        DockerComposeProvider(moved.project, docker_runtime).up()
        moved.before = moved.write(3)
        backup = moved.cli("backup", "--include-data")
        assert backup.returncode == 0, backup.stdout + backup.stderr
        yield moved
    finally:
        _remove_everything(moved)


@pytest.fixture
def moved(on_docker: Moved) -> Moved:
    """... then moved to Podman by hand, with more records written there."""
    _move_to_podman_by_hand(on_docker)
    on_docker.after = on_docker.write(2)
    assert set(on_docker.before + on_docker.after) <= on_docker.records()
    return on_docker


def _volume_matches(moved: Moved, store: BackupStore, volume: str, since: float | None) -> str:
    archive = next(a for a in store.manifest().archives if a.name == volume)
    return compare_since(archive.entries, read_entries(moved.docker, volume), since)


def _started_at(moved: Moved) -> float:
    started = StepJournal.open(moved.project_dir, "rollback").data("start-docker").get("started_at")
    assert isinstance(started, float)
    return started


def _report(moved: Moved) -> dict[str, Any]:
    """The rollback's JSON report (pytest-json-report): steps and checks."""
    data: dict[str, Any] = json.loads((REPO / "reports" / "rollback.json").read_text())
    return data


# -- the full cycle ------------------------------------------------------------------------------------
def test_rollback_keep_data_brings_every_record_back_under_docker(moved: Moved) -> None:
    result = moved.cli("rollback", "--force", "--keep-data", *_rootless_args(moved))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "podshift rollback: DONE" in output
    # Every record from before and after the migration, served by the api under Docker.
    assert set(moved.before + moved.after) <= moved.records()
    # The bind-mounted data dir has Docker's owner again (the rootless move handed it to the user).
    assert os.stat(moved.env["PHOENIX_DATA_DIR"]).st_uid == 0
    assert {c.service for c in moved.docker.project_containers(moved.name) if c.status == "running"} == {
        "api", "web", "gateway", "worker",
    }  # fmt: skip
    assert find_project(moved.podman, moved.name).containers == (), "no project container left on Podman"
    # Volume data equals the snapshot (the worker keeps writing its counter: changes since start are its own).
    snapshot = PodmanSnapshot(moved.project_dir)
    assert snapshot.verify() == []
    since = _started_at(moved)
    for volume in moved.project.named_volumes:
        assert _volume_matches(moved, snapshot, volume, since) == "", volume
    api_data = next(a for a in snapshot.manifest().archives if a.name.endswith("_api-data"))
    assert _volume_matches(moved, snapshot, api_data.name, None) == "", "api-data must equal the snapshot exactly"
    # The post_rollback checks ran after the steps and passed; the log and reports are there.
    report = _report(moved)
    checks = [t for t in report["tests"] if "post_rollback" in t["nodeid"]]
    assert len(checks) == 6, [t["nodeid"] for t in checks]
    assert all(t["outcome"] == "passed" for t in checks), checks
    # An action session ends with its own line, not with a readiness verdict.
    assert "podshift verdict" not in output
    assert output.rstrip().splitlines()[-1].startswith("podshift rollback: DONE"), output[-2000:]
    assert (REPO / "reports" / "rollback.log").read_text().count("step stop-podman") >= 1
    # Again: nothing to do, nothing changed.
    again = moved.cli("rollback", "--force", "--keep-data", *_rootless_args(moved))
    assert again.returncode == 0, (again.stdout + again.stderr)[-3000:]
    assert "NOTHING TO DO" in again.stdout + again.stderr


def test_rollback_without_keep_data_restores_the_backup_and_the_snapshot_keeps_podman_data(moved: Moved) -> None:
    result = moved.cli("rollback", "--force", *_rootless_args(moved))
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    records = moved.records()
    assert set(moved.before) <= records
    assert not set(moved.after) & records, "without --keep-data Docker serves the backup's data"
    backup = BackupStore(moved.project_dir)
    since = _started_at(moved)
    for volume in moved.project.named_volumes:
        assert _volume_matches(moved, backup, volume, since) == "", volume
    # The snapshot still holds what Podman had: the records written there.
    snapshot = PodmanSnapshot(moved.project_dir)
    api = next(a for a in snapshot.manifest().archives if a.name.endswith("_api-data"))
    contents = {e.path for e in api.entries}
    assert sum(1 for p in contents if p.startswith("records/")) >= len(moved.before) + len(moved.after)
    # Podman's volumes were not deleted (no --cleanup).
    assert {v.name for v in moved.podman.project_volumes(moved.name)} >= set(moved.project.named_volumes)


def test_cleanup_removes_the_podman_side_only_after_verification(moved: Moved) -> None:
    result = moved.cli("rollback", "--force", "--keep-data", "--cleanup", *_rootless_args(moved))
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    assert moved.podman.project_volumes(moved.name) == []
    cleanup = StepJournal.open(moved.project_dir, "rollback").data("cleanup")
    # Each carried image went, or was kept because some container (anyone's: the same image id may run
    # under another name) still uses it; never forced.
    assert f"localhost/{PREFIX}phoenix-api:1" in cleanup["images_removed"] + cleanup["images_kept"]
    for ref in cleanup["images_removed"]:
        assert moved.podman.image(ref) is None
        assert moved.docker.image(ref) is not None
    assert set(moved.before + moved.after) <= moved.records()
    _nothing_of_the_project_on_podman(moved, result.stdout + result.stderr)


# -- the seed's own test ----------------------------------------------------------------------------------
@pytest.mark.parametrize("podman_target", ["podman"], indirect=True)
def test_seed_backup_move_compose_file_away_and_rollback_restores_it(on_docker: Moved) -> None:
    compose = on_docker.project_dir / "docker-compose.yml"
    original = compose.read_bytes()
    mode, mtime = compose.stat().st_mode, compose.stat().st_mtime
    shutil.move(compose, on_docker.project_dir / "docker-compose.yml.bak")
    result = on_docker.cli("rollback", "--force")
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    assert compose.read_bytes() == original  # diff docker-compose.yml.bak docker-compose.yml
    assert (compose.stat().st_mode, compose.stat().st_mtime) == (mode, mtime)
    assert set(on_docker.before) <= on_docker.records()


# -- refusals ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("podman_target", ["podman"], indirect=True)
def test_no_backup_is_the_seeds_error_and_nothing_changes(moved: Moved) -> None:
    backup = BackupStore(moved.project_dir).path
    shutil.move(backup, moved.root / "elsewhere")
    result = moved.cli("rollback", "--force", "--keep-data")
    assert result.returncode == 1
    assert f"Backup directory not found: {backup}; create one with `podshift backup`" in result.stdout + result.stderr
    assert {c.status for c in find_project(moved.podman, moved.name).containers} == {"running"}


@pytest.mark.parametrize("podman_target", ["podman"], indirect=True)
def test_tampered_backup_is_refused_naming_the_file(moved: Moved) -> None:
    store = BackupStore(moved.project_dir)
    victim = next(c for c in store.manifest().config if c.path.endswith("gateway.conf"))
    (store.path / "config" / victim.path).write_text("tampered\n")
    result = moved.cli("rollback", "--force", "--keep-data")
    out = result.stdout + result.stderr
    assert result.returncode == 1, out[-3000:]
    assert "does not verify" in out
    assert victim.path in out
    assert {c.status for c in find_project(moved.podman, moved.name).containers} == {"running"}


@pytest.mark.parametrize("podman_target", ["podman"], indirect=True)
def test_no_terminal_without_force_refuses_and_verify_only_changes_nothing(moved: Moved) -> None:
    def state() -> tuple[object, ...]:
        return (
            sorted((c.name, c.status) for c in find_project(moved.podman, moved.name).containers),
            sorted(c.name for c in moved.docker.project_containers(moved.name)),
            (moved.project_dir / ".podshift" / "rollback.json").exists(),
            PodmanSnapshot(moved.project_dir).exists(),
        )

    before = state()
    refused = moved.cli("rollback", "--keep-data")
    assert refused.returncode == 1
    assert "refusing" in refused.stdout
    assert "--force" in refused.stdout
    assert state() == before

    # On a terminal: the plan, then a typed confirmation; anything but "yes" changes nothing.
    argv = [sys.executable, "-m", "podshift.cli", "rollback", "--keep-data", "--project-dir", str(moved.project_dir)]
    declined = on_terminal(argv, prompt="Type 'yes'", answer="no", env=moved.env_for_cli(), cwd=REPO)
    assert declined.returncode == 1, declined.output[-3000:]
    assert "stop-podman" in declined.output, "the plan is printed before the question"
    assert "not confirmed; nothing was changed" in declined.output
    assert state() == before

    checked = moved.cli("rollback", "--verify-only", "--keep-data")
    out = checked.stdout + checked.stderr
    assert checked.returncode == 0, out[-3000:]
    assert "held by the project's Podman containers" in out
    assert "stop-podman" in out, "the plan is printed"
    assert "migrate-data" in out
    assert "PLANNED" in out
    assert state() == before


# -- interruptions --------------------------------------------------------------------------------------
def _kill_when(moved: Moved, args: list[str], ready: object, deadline: float = 600) -> None:
    """Start the rollback and kill -9 it as soon as *ready()* is true."""
    with tempfile.TemporaryFile() as said:
        proc = subprocess.Popen(
            [sys.executable, "-m", "podshift.cli", *args, "--project-dir", str(moved.project_dir)],
            env=moved.env_for_cli(),
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=said,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        end = time.monotonic() + deadline
        try:
            while time.monotonic() < end and proc.poll() is None:
                if ready():  # type: ignore[operator]
                    os.killpg(proc.pid, signal.SIGKILL)
                    break
                time.sleep(0.05)
            else:
                said.seek(0)
                out = said.read().decode(errors="replace")[-3000:]
                pytest.fail(f"the rollback ended (exit {proc.poll()}) before the moment to kill it came:\n{out}")
        finally:
            proc.wait(timeout=60)


def _phase(moved: Moved, volume_suffix: str) -> str | None:
    try:
        volumes = StepJournal.open(moved.project_dir, "rollback").data("migrate-data").get("volumes") or {}
    except (OSError, PodshiftError):  # a journal being replaced right now: ask again
        return None
    for name, entry in volumes.items():
        if name.endswith(volume_suffix):
            return str(entry.get("phase"))
    return None


def _step_state(moved: Moved, step: str) -> str:
    try:
        return StepJournal.open(moved.project_dir, "rollback").state(step)
    except (OSError, PodshiftError):  # a journal being replaced right now
        return "pending"


#: Every boundary between two rollback steps (after the last one the session only finishes).
BOUNDARIES = ("stop-podman", "snapshot-podman", "restore-docker-config", "migrate-data", "start-docker")


@pytest.mark.parametrize("podman_target", ["podman"], indirect=True)
def test_kill_9_at_every_step_boundary_and_during_the_copy_then_the_same_command_converges(moved: Moved) -> None:
    """One rollback killed -9 after each step in turn (and once in the middle of step 4's copy), each time
    resumed by the same command; at the end nothing is lost and the snapshot was taken once.

    Before step 5 a NAT rule of Podman's for a container it does not have sits on the api's port: the
    rollback stops there naming the rule and its removal, the host's firewall unchanged."""
    args = ["rollback", "--force", "--keep-data"]
    created = None
    for step in BOUNDARIES:
        if step == "migrate-data":  # in the middle of step 4's copy of the api volume, then at its end
            _kill_when(moved, args, lambda: _phase(moved, "_api-data") == "copying")
        if step == "start-docker":
            _blocked_by_a_leftover_rule(moved, args)
        _kill_when(moved, args, lambda step=step: _step_state(moved, step) == "done")  # type: ignore[misc]
        if step == "snapshot-podman":
            created = StepJournal.open(moved.project_dir, "rollback").data("snapshot-podman").get("created")
            assert created is not None
    # The same command again converges.
    result = moved.cli(*args)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-4000:]
    assert set(moved.before + moved.after) <= moved.records()
    journal = StepJournal.open(moved.project_dir, "rollback")
    assert [journal.state(s) for s in BOUNDARIES] == ["done"] * len(BOUNDARIES)
    assert journal.data("snapshot-podman").get("created") == created, "the snapshot was taken twice"
    assert PodmanSnapshot(moved.project_dir).manifest().created == created
    snapshot = PodmanSnapshot(moved.project_dir)
    since = _started_at(moved)
    for volume in moved.project.named_volumes:
        assert _volume_matches(moved, snapshot, volume, since) == "", volume
    api_data = next(a for a in snapshot.manifest().archives if a.name.endswith("_api-data"))
    assert _volume_matches(moved, snapshot, api_data.name, None) == "", "api-data must equal the snapshot exactly"
    assert not [v for v in moved.docker.client.volumes.list() if v.name.endswith("-podshift-aside")
                and v.name.startswith(moved.name)], "aside volumes are removed once verified"  # fmt: skip


def _blocked_by_a_leftover_rule(moved: Moved, args: list[str]) -> None:
    """Step 5 with Podman's leftover DNAT on the api's port: refused, the rule and its removal named."""
    from .leftover_rules import podman_nat_rule_left, rules_naming

    port = moved.ports["api"]
    with podman_nat_rule_left(port, PREFIX, NET) as left:
        failed = moved.cli(*args)
        out = failed.stdout + failed.stderr
        assert failed.returncode == 1, out[-3000:]
        assert "FAILED at step start-docker: " in out
        assert f"port {port}: Podman's NAT rule for container {left.container_id[:12]}, which Podman no" in out
        assert f"iptables -t nat -D NETAVARK-HOSTPORT-DNAT -p tcp -m tcp --dport {port}" in out
        assert len(rules_naming(left.container_id)) == 1, "podshift changed the firewall"
    assert StepJournal.open(moved.project_dir, "rollback").state("migrate-data") == "done"


# -- the whole cycle with podshift's own migrate ---------------------------------------------------------
def test_full_cycle_backup_migrate_rollback_keep_data_cleanup(on_docker: Moved) -> None:
    """backup -> `podshift migrate` -> records under Podman -> `rollback --force --keep-data --cleanup`:
    every record served by Docker, and nothing of the project left on Podman."""
    migrated = on_docker.cli("migrate", "--use-backup", *_rootless_args(on_docker))
    assert migrated.returncode == 0, (migrated.stdout + migrated.stderr)[-4000:]
    on_docker.after = on_docker.write(2)
    assert {c.status for c in find_project(on_docker.podman, on_docker.name).containers} == {"running"}
    created = StepJournal.open(on_docker.project_dir, "migrate").data("volumes-bulk-copy")["created"]
    assert created, "the migration journaled the volumes it created"

    result = on_docker.cli("rollback", "--force", "--keep-data", "--cleanup", *_rootless_args(on_docker))
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-4000:]
    assert set(on_docker.before + on_docker.after) <= on_docker.records()
    # The compose file the migration rewrote for Podman is Docker's again, byte for byte.
    assert BackupStore(on_docker.project_dir).verify() == []
    snapshot = PodmanSnapshot(on_docker.project_dir)
    since = _started_at(on_docker)
    for volume in on_docker.project.named_volumes:
        assert _volume_matches(on_docker, snapshot, volume, since) == "", volume
    # Bind-mount owners the migration changed for rootless Podman are back (root's, as under Docker).
    assert os.stat(on_docker.env["PHOENIX_DATA_DIR"]).st_uid == 0
    _nothing_of_the_project_on_podman(on_docker, out)


def _nothing_of_the_project_on_podman(moved: Moved, output: str) -> None:
    """After --cleanup: no container, pod, network or volume of the project on Podman; carried images gone
    (or kept, with the reason, because a container uses the same image id); what went is listed."""
    left = find_project(moved.podman, moved.name)
    assert (left.containers, left.pods, left.networks, left.volumes) == ((), (), (), ()), left.describe()
    assert not [v for v in moved.podman.client.volumes.list() if v.name.startswith(moved.name)]
    cleanup = StepJournal.open(moved.project_dir, "rollback").data("cleanup")
    assert sorted(cleanup["volumes_removed"]) == sorted(moved.project.named_volumes)
    assert cleanup["volumes_kept"] == []
    for ref in cleanup["images_removed"]:
        assert moved.podman.image(ref) is None, ref
        assert moved.docker.image(ref) is not None, ref
    assert f"localhost/{PREFIX}phoenix-api:1" in cleanup["images_removed"] + cleanup["images_kept"]
    for ref in cleanup["images_kept"]:
        image = moved.podman.image(ref)
        assert image is not None
        assert moved.podman.client.containers.list(all=True, filters={"ancestor": image.id}), f"{ref} kept unused"
    assert "removed from" in output, "the cleanup lists what it removed"
    assert all(v in output for v in cleanup["volumes_removed"])


@pytest.mark.parametrize("podman_target", ["podman"], indirect=True)
def test_port_held_by_another_process_is_named_with_its_pid_and_a_rerun_resumes(moved: Moved) -> None:
    import socket

    squatter = socket.socket()
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    args = ["rollback", "--force", "--keep-data"]
    try:
        # Podman's containers hold the port until step 1; the squatter takes it right after.
        _kill_when_free_then_squat(moved, args, squatter)
        failed = moved.cli(*args)
        out = failed.stdout + failed.stderr
        assert failed.returncode == 1, out[-3000:]
        assert f"FAILED at step start-docker: port {moved.ports['web']}" in out
        assert f"PID {os.getpid()}" in out
    finally:
        squatter.close()
    journal = StepJournal.open(moved.project_dir, "rollback")
    assert journal.state("migrate-data") == "done"
    resumed = moved.cli(*args)
    out = resumed.stdout + resumed.stderr
    assert resumed.returncode == 0, out[-3000:]
    assert "ALREADY DONE" in out or "already done" in out
    assert set(moved.before + moved.after) <= moved.records()


def _kill_when_free_then_squat(moved: Moved, args: list[str], squatter: object) -> None:
    """Run the rollback up to the end of step 1 (kill -9 there), then hold the web port."""
    _kill_when(moved, args, lambda: _step_state(moved, "stop-podman") == "done")
    squatter.bind(("127.0.0.1", moved.ports["web"]))  # type: ignore[attr-defined]
    squatter.listen()  # type: ignore[attr-defined]


@pytest.mark.parametrize("podman_target", ["podman"], indirect=True)
def test_a_second_cycle_rolls_back_again(moved: Moved) -> None:
    """migrate (by hand) -> rollback -> migrate again -> rollback: the second one is not "already done"."""
    first = moved.cli("rollback", "--force", "--keep-data")
    assert first.returncode == 0, (first.stdout + first.stderr)[-3000:]
    created = StepJournal.open(moved.project_dir, "rollback").data("snapshot-podman")["created"]
    for volume in moved.project.named_volumes:  # the user moves it again, by hand
        moved.podman.volume_remove(volume, force=True)
    _move_to_podman_by_hand(moved)
    later = moved.write(2)
    second = moved.cli("rollback", "--force", "--keep-data")
    out = second.stdout + second.stderr
    assert second.returncode == 0, out[-3000:]
    assert "NOTHING TO DO" not in out
    assert set(moved.before + moved.after + later) <= moved.records()
    assert StepJournal.open(moved.project_dir, "rollback").data("snapshot-podman")["created"] > created
    assert list((moved.project_dir / ".podshift").glob("rollback-*.json")), "the first cycle's journal is kept"


@pytest.mark.parametrize("podman_target", ["podman"], indirect=True)
def test_two_cycles_with_podshift_migrate_each_done(on_docker: Moved) -> None:
    """migrate -> rollback -> migrate -> rollback: each reaches DONE; a new cycle starts from fresh journals."""
    state = on_docker.project_dir / ".podshift"
    written = list(on_docker.before)
    created = []
    for cycle in (1, 2):
        # The first migration uses the backup made on Docker; the second makes a new one (the snapshot stays).
        migrate = ["migrate", "--use-backup"] if cycle == 1 else ["migrate"]
        migrated = on_docker.cli(*migrate)
        out = migrated.stdout + migrated.stderr
        assert migrated.returncode == 0, out[-4000:]
        assert out.rstrip().splitlines()[-1].startswith("podshift migrate: DONE"), out[-2000:]
        written += on_docker.write(2)
        back = on_docker.cli("rollback", "--force", "--keep-data")
        out = back.stdout + back.stderr
        assert back.returncode == 0, out[-4000:]
        assert out.rstrip().splitlines()[-1].startswith("podshift rollback: DONE"), out[-2000:]
        assert set(written) <= on_docker.records()
        assert find_project(on_docker.podman, on_docker.name).containers == ()
        created.append(StepJournal.open(on_docker.project_dir, "rollback").data("snapshot-podman")["created"])
        written += on_docker.write(1)  # under Docker again
    assert created[1] > created[0], "the second rollback took its own snapshot"
    # The first cycle's journals are kept aside, once each; the second cycle's are the current ones.
    # (`migrate-<yyyymmdd>-<hhmmss>.json`; the migration's own state files are `migrate-<what>-<volume>.json`)
    assert len(list(state.glob("migrate-2???????-??????*.json"))) == 1
    assert len(list(state.glob("rollback-2???????-??????*.json"))) == 1
    assert StepJournal.open(on_docker.project_dir, "migrate").finished()
    assert StepJournal.open(on_docker.project_dir, "rollback").finished()


# -- Docker down in the middle ------------------------------------------------------------------------------
def _dockerd_again(daemon: PrivateDockerd) -> subprocess.Popen[bytes]:
    """Start the private daemon again on the same roots and bridge (its volumes and images are still there)."""
    root = daemon.root
    argv = ["dockerd", "-H", daemon.host, "--data-root", str(root / "data"), "--exec-root", str(root / "exec")]
    argv += ["--pidfile", str(root / "docker.pid"), "--iptables=false", "--ip-masq=false", "--bridge", daemon.bridge]
    with open(root / "dockerd-again.log", "wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while not daemon.answers():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError((root / "dockerd-again.log").read_text(errors="replace")[-2000:])
        time.sleep(0.3)
    return proc


def test_docker_down_during_the_rollback_is_a_clear_error_and_the_same_command_finishes_later(
    podman_runtime: PodmanRuntime,
) -> None:
    """A private dockerd (the host's is never touched): stopped before the data step, started again, rerun."""
    with private_dockerd(f"10.{NET}") as daemon:
        docker = DockerRuntime(str(daemon.socket))
        moved = _make(docker, podman_runtime)
        moved.env["DOCKER_HOST"] = daemon.host
        again: subprocess.Popen[bytes] | None = None
        try:
            run([str(moved.project_dir / "compose/base/build-base.sh"), "docker"], env={"DOCKER_HOST": daemon.host},
                timeout=300).check()  # fmt: skip
            DockerComposeProvider(moved.project, docker).up()
            moved.before = moved.write(2)
            backup = moved.cli("backup", "--include-data")
            assert backup.returncode == 0, backup.stdout + backup.stderr
            _move_to_podman_by_hand(moved)
            moved.after = moved.write(2)

            docker.close()
            daemon.stop()
            failed = moved.cli("rollback", "--force", "--keep-data")
            out = failed.stdout + failed.stderr
            assert failed.returncode == 1, out[-3000:]
            assert "FAILED at step migrate-data: docker engine not reachable" in out, out[-3000:]
            assert "run the same `podshift rollback` again" in out
            journal = StepJournal.open(moved.project_dir, "rollback")
            assert journal.state("snapshot-podman") == "done"

            again = _dockerd_again(daemon)
            finished = moved.cli("rollback", "--force", "--keep-data")
            out = finished.stdout + finished.stderr
            assert finished.returncode == 0, out[-3000:]
            assert set(moved.before + moved.after) <= moved.records()
            assert (
                StepJournal.open(moved.project_dir, "rollback").data("snapshot-podman")["created"]
                == (journal.data("snapshot-podman")["created"])
            ), "the snapshot was not taken twice"
        finally:
            try:
                if daemon.answers():
                    _remove_everything(moved)
                else:
                    take_down(podman_runtime, moved.name)
                    for v in podman_runtime.project_volumes(moved.name):
                        podman_runtime.volume_remove(v.name, force=True)
            finally:
                if again is not None and again.poll() is None:
                    again.terminate()
                    again.wait(timeout=60)
                shutil.rmtree(moved.root, ignore_errors=True)
