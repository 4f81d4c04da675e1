"""``podshift migrate`` on real engines: the reference stack moved from Docker to rootful and rootless Podman.

Each test deploys its own copy of phoenix-hydra on Docker (unique project and
image names, ports in 21100-21199, a 10.11.x.0/24 subnet), writes records
through its api and fills a volume with awkward content, then migrates it and
checks the result from the outside: every entry as a container of the target
engine sees it, the endpoints, the records, Docker's volumes untouched.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from podshift import drill
from podshift.commands import run
from podshift.compose import load_project, provider_for
from podshift.compose.model import ComposeProject
from podshift.errors import PodshiftError
from podshift.recovery.dns import aardvark_dir, find_stale, remove_files
from podshift.runtimes import DockerRuntime, PodmanRuntime
from podshift.steps import StepJournal
from podshift.volumes.transfer import VolumeRef, access, snapshot

from ..conftest import EXAMPLE, REPO
from .conftest import http
from .volume_content import fill, in_container

pytestmark = pytest.mark.xdist_group("migrate")
PORTS = range(21100, 21200)


def free_ports(n: int, ports: range = PORTS) -> list[int]:
    """*n* ports of *ports* (this issue's range) that nothing listens on, in random order (parallel runs)."""
    return drill.free_ports(n, random.sample(ports, len(ports)))


@dataclass
class DockerStack:
    """A private phoenix-hydra deployed on Docker, ready to be migrated."""

    root: Path
    dir: Path
    name: str
    ports: dict[str, int]
    project: ComposeProject
    docker: DockerRuntime
    records: list[str]

    def url(self, service: str, path: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}{path}"

    @property
    def volume(self) -> str:
        return f"{self.name}_api-data"


def make_stack(
    docker: DockerRuntime,
    *,
    big_mib: int = 0,
    prefix: str = "i11",
    ports: range = PORTS,
    subnet: str = "10.11",
    stack_parent: Path | None = None,
) -> DockerStack:
    """Deploy a private phoenix-hydra on Docker: names start with *prefix*, ports from *ports*, a *subnet*.x.0/24.

    *stack_parent*: where the project directory goes (default: beside its data dir in a new temporary dir).
    """
    root = Path(tempfile.mkdtemp(prefix=f"{prefix}-migrate-"))
    root.chmod(0o755)  # the rootless user reads the project and its data dir
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    stack = (stack_parent or root) / "stack"
    shutil.copytree(EXAMPLE, stack)
    compose = stack / "docker-compose.yml"
    text = compose.read_text().replace("name: phoenix-hydra", f"name: {name}")
    # Own image names: other tests build phoenix-hydra's images into the same stores at the same time.
    compose.write_text(text.replace("localhost/phoenix-hydra-", f"localhost/{name}-"))
    ports_of = dict(zip(("api", "web", "gateway", "worker"), free_ports(4, ports), strict=True))
    data = root / "data"
    data.mkdir()
    (data / "shared.txt").write_text("bind-mounted data\n")
    env = {f"PHOENIX_{s.upper()}_PORT": str(p) for s, p in ports_of.items()}
    env |= {"PHOENIX_SUBNET": f"{subnet}.{random.randint(1, 254)}.0/24", "PHOENIX_DATA_DIR": str(data)}  # noqa: S311
    (stack / ".env").write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    run([str(stack / "compose/base/build-base.sh"), "docker"], timeout=300).check()
    project = load_project(stack)
    provider = provider_for(project, docker)
    try:
        provider.up()
    finally:
        provider.close()
    s = DockerStack(root, stack, name, ports_of, project, docker, [])
    for i in range(3):
        marker = f"record-{name}-{i}"
        http(s.url("api", "/cgi-bin/records"), data=marker.encode())
        s.records.append(marker)
    mountpoint = access(VolumeRef(docker, s.volume)).mountpoint
    assert mountpoint is not None
    (mountpoint / "awkward").mkdir()
    fill(mountpoint / "awkward", small_files=2000)
    if big_mib:
        big = mountpoint / "big"
        big.mkdir()
        for i in range(big_mib // 4):
            (big / f"b{i:04d}").write_bytes(os.urandom(1 << 20) * 4)
    return s


def remove_stack(s: DockerStack, podman: PodmanRuntime | None) -> None:
    project = load_project(s.dir)
    for runtime in (s.docker, podman):
        if runtime is None:
            continue
        provider = provider_for(project, runtime)
        try:
            provider.down(volumes=True)
        except PodshiftError as e:  # teardown goes on: what is left is removed below
            print(f"teardown: {e}")
        finally:
            provider.close()
        for v in project.named_volumes:
            runtime.volume_remove(v, force=True)
        for service in project.services.values():
            if service.image:
                runtime.image_remove(service.image)
    if podman is not None:
        forget_stale_dns(podman, s.name)
    shutil.rmtree(s.root, ignore_errors=True)


def forget_stale_dns(podman: PodmanRuntime, project: str) -> None:
    """Remove the aardvark-dns files of *project*'s networks that are gone.

    A container whose start failed (a port taken) leaves its network's entry behind after the network is
    removed (Podman 4.3; `podshift recover network-issues` repairs it): the user's next network with the
    same gateway would lose DNS, and every later test of that user with it.
    """
    gone = [s.network for s in find_stale(podman) if s.network_gone and s.network.startswith(f"{project}_")]
    remove_files(aardvark_dir(podman), gone)


@pytest.fixture
def open_tun() -> Iterator[None]:
    """Rootless port publishing needs /dev/net/tun 0666 (0600 on these hosts): set for the test, restored after."""
    tun = Path("/dev/net/tun")
    mode = tun.stat().st_mode & 0o7777
    tun.chmod(0o666)
    try:
        yield
    finally:
        tun.chmod(mode)


def clean_env() -> dict[str, str]:
    """The environment without PODSHIFT_ROOTLESS_USER: the target is only what the command line says."""
    return {k: v for k, v in os.environ.items() if k != "PODSHIFT_ROOTLESS_USER"}


def migrate_cli(project: Path, *args: str, cwd: Path, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "podshift.cli", "migrate", "--project-dir", str(project), *args]
    return subprocess.run(argv, cwd=cwd, env=clean_env(), capture_output=True, text=True, timeout=timeout, check=False)


def engine_state(s: DockerStack, podman: PodmanRuntime) -> dict[str, Any]:
    """What --dry-run must leave exactly as it was."""
    return {
        "docker containers": sorted((c.name, c.status) for c in s.docker.project_containers(s.name)),
        "docker networks": sorted(n.name for n in s.docker.project_networks(s.name)),
        # The worker writes a heartbeat every 5 s: the api's volume is the one nothing writes on its own.
        "docker api volume": snapshot(VolumeRef(s.docker, s.volume)).digest(),
        "podman containers": sorted(c.name for c in podman.project_containers(s.name)),
        "podman volumes": sorted(v for v in s.project.named_volumes if podman.volume(v) is not None),
        "files": {
            str(p): p.read_bytes()
            for p in sorted(s.dir.rglob("*"))
            if p.is_file() and not any(part.startswith(".podshift") for part in p.parts)
        },
    }


def assert_migrated(s: DockerStack, podman: PodmanRuntime, api_digest: str) -> None:
    """The end state: served by Podman, the same data seen from inside, Docker's volumes untouched."""
    for service in ("api", "web", "gateway", "worker"):
        http(s.url(service, "/health"))
    served = http(s.url("api", "/cgi-bin/records"))
    assert all(r in served for r in s.records), served
    assert not [c for c in s.docker.project_containers(s.name) if c.status == "running"]
    assert {c.service for c in podman.project_containers(s.name) if c.status == "running"} == set(s.project.services)
    # Docker's volumes as they were at the stop (the journal's verified digests); the api's as before it all.
    at_stop = StepJournal.open(s.dir, "migrate").data("volumes-final-sync")
    for v in s.project.named_volumes:
        assert snapshot(VolumeRef(s.docker, v)).digest() == at_stop[v]["digest"], f"Docker's {v} changed"
    assert at_stop[s.volume]["digest"] == api_digest
    # Every entry of the awkward volume as a container of each engine sees it (records written since aside).
    seen_docker = in_container(s.docker, s.volume)
    seen_podman = in_container(podman, s.volume)
    strip = [ln for ln in seen_docker.splitlines() if "records" not in ln]
    assert [ln for ln in seen_podman.splitlines() if "records" not in ln] == strip
    assert "/secret|999|999|600|" in seen_podman


def report_outcomes(cwd: Path) -> dict[str, str]:
    data = json.loads((cwd / "reports" / "migrate.json").read_text())
    return {t["nodeid"].split("::")[-1]: t["outcome"] for t in data["tests"]}


# -- rootful, with a third-party step and the pytest interface ---------------------------------------------------
THIRD_PARTY = """
import pathlib
import pytest
from podshift.steps import Step

class DrainLoadBalancer(Step):
    name = "drain-load-balancer"
    title = "Drain the load balancer (a third party's step)"
    action = "migrate"
    after = ("volumes-bulk-copy",)
    before = ("stop-docker",)

    def run(self, ctx):
        marker = pathlib.Path(ctx.project.project_dir) / "drained"
        order = [n for n, e in ctx.journal.steps().items() if e["state"] == "done"]
        marker.write_text(",".join(order))
        return "drained"

@pytest.hookimpl
def pytest_podshift_steps(config, action, scenario):
    return [DrainLoadBalancer()] if action == "migrate" else []
"""


def test_migrate_to_rootful_podman(docker_runtime: DockerRuntime, podman_runtime: PodmanRuntime) -> None:
    if podman_runtime.rootless:
        pytest.skip("rootful Podman needs root")
    s = make_stack(docker_runtime)
    work = Path(tempfile.mkdtemp(prefix="i11-run-"))
    try:
        before = engine_state(s, podman_runtime)
        dry = migrate_cli(s.dir, "--dry-run", cwd=work)
        assert dry.returncode == 0, dry.stdout[-3000:]
        assert "PLANNED" in dry.stdout
        assert f"docker network rm {s.name}_phoenix-net" in dry.stdout
        after = engine_state(s, podman_runtime)
        assert sorted(after["files"]) == sorted(before["files"])
        assert after == before  # --dry-run changed nothing

        plugin_dir = work / "plugins"
        plugin_dir.mkdir()
        (plugin_dir / "i11_third_party.py").write_text(textwrap.dedent(THIRD_PARTY))
        argv = [sys.executable, "-m", "pytest", str(REPO / "checks"), "-m", "post_migration", "--migrate"]
        argv += ["--project-dir", str(s.dir), "--rootdir", str(REPO), "-p", "i11_third_party", "-p", "no:cacheprovider"]
        argv += ["--json-report", f"--json-report-file={work / 'reports' / 'migrate.json'}"]
        env = {**clean_env(), "PYTHONPATH": str(plugin_dir)}
        proc = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True, timeout=900, check=False)
        assert proc.returncode == 0, proc.stdout[-4000:]
        assert "podshift migrate: DONE" in proc.stdout
        # The third party's step ran in its place: after the bulk copy, before Docker stopped.
        assert (s.dir / "drained").read_text().split(",")[-1] in ("volumes-bulk-copy", "images")
        outcomes = report_outcomes(work)
        assert outcomes["drain-load-balancer"] == "done"
        assert all(o in ("passed", "done") for o in outcomes.values()), outcomes
        assert_migrated(s, podman_runtime, before["docker api volume"])

        again = migrate_cli(s.dir, cwd=work)
        assert again.returncode == 0, again.stdout[-3000:]
        assert "NOTHING TO DO" in again.stdout

        # The final pass trusts hashes taken while Docker served wherever a file's times did not change;
        # the check re-reads every byte of the stopped Docker volume.  A file rewritten in place, same size:
        mountpoint = access(VolumeRef(s.docker, s.volume)).mountpoint
        assert mountpoint is not None
        record = next(p for p in sorted((mountpoint / "records").iterdir()) if p.is_file())
        record.write_bytes(bytes(b ^ 0xFF for b in record.read_bytes()))
        proc = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True, timeout=900, check=False)
        assert proc.returncode == 1, proc.stdout[-4000:]
        assert "Docker's stopped volume differs from what was verified at the stop" in proc.stdout, proc.stdout[-4000:]
        assert f"records/{record.name}" in proc.stdout
    finally:
        remove_stack(s, podman_runtime)
        shutil.rmtree(work, ignore_errors=True)


def test_migrate_to_rootless_podman(
    docker_runtime: DockerRuntime, rootless_podman_runtime: PodmanRuntime, open_tun: None
) -> None:
    user = rootless_podman_runtime.run_as.user if rootless_podman_runtime.run_as else None
    if user is None:
        pytest.skip("needs root driving a rootless user's Podman (PODSHIFT_ROOTLESS_USER)")
    s = make_stack(docker_runtime)
    work = Path(tempfile.mkdtemp(prefix="i11-run-"))
    try:
        digest = snapshot(VolumeRef(s.docker, s.volume)).digest()
        data = s.root / "data"
        # A file the api writes into its own layer stays behind with its Docker container: the log says so.
        api = next(c.name for c in s.docker.project_containers(s.name) if c.service == "api")
        wrote = s.docker.client.containers.get(api).exec_run(["sh", "-c", "echo left > /left-behind.txt"])
        assert wrote.exit_code == 0, wrote.output
        result = migrate_cli(s.dir, "--rootless-user", user, cwd=work)
        assert result.returncode == 0, result.stdout[-4000:]
        assert "podshift migrate: DONE" in result.stdout
        assert all(o in ("passed", "done") for o in report_outcomes(work).values())
        assert_migrated(s, rootless_podman_runtime, digest)
        # The bind-mounted data dir (root's under Docker) is the user's namespace root now; originals journaled.
        owners = StepJournal.open(s.dir, "migrate").data("bind-owners")["bind_owners"]
        assert owners[str(data)] == [0, 0]
        assert data.stat().st_uid == rootless_podman_runtime.run_as.uid  # type: ignore[union-attr]
        log = (work / "reports" / "migrate.log").read_text()
        assert f"left behind in {api}'s own layer (not in a volume): /left-behind.txt (added)" in log, log[-3000:]
        assert (work / "reports" / "migrate-table.html").is_file()  # pytest-html: steps and checks
        assert (work / "reports" / "post-migration.html").is_file()  # podshift's own page of the checks
        assert (work / "reports" / "migrate-junit.xml").is_file()
    finally:
        remove_stack(s, rootless_podman_runtime)
        shutil.rmtree(work, ignore_errors=True)


# -- kill -9, then the same command again ---------------------------------------------------------------------
def _kill_when(project: Path, work: Path, ready: Any, *, delay: float = 0.0, timeout: float = 600) -> None:
    """Start a migration, SIGKILL its whole process group once *ready(journal steps)* says so."""
    argv = [sys.executable, "-m", "podshift.cli", "migrate", "--project-dir", str(project)]
    proc = subprocess.Popen(
        argv, cwd=work, env=clean_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.monotonic() + timeout
    steps: dict[str, Any] = {}
    journal = project / ".podshift" / "migrate.json"
    try:
        while time.monotonic() < deadline:
            if journal.exists():
                try:
                    steps = json.loads(journal.read_text())["steps"]
                except ValueError:
                    steps = {}
                if ready(steps):
                    time.sleep(delay)
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                    return
            if proc.poll() is not None:
                states = {n: e.get("state") for n, e in steps.items()}
                raise AssertionError(f"the migration ended (rc {proc.returncode}) before the kill point: {states}")
            time.sleep(0.02)
        raise AssertionError("the kill point never came")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_kill_9_then_rerun_converges(docker_runtime: DockerRuntime, podman_runtime: PodmanRuntime) -> None:
    if podman_runtime.rootless:
        pytest.skip("rootful Podman needs root")
    s = make_stack(docker_runtime, big_mib=200)
    work = Path(tempfile.mkdtemp(prefix="i11-run-"))
    try:
        digest = snapshot(VolumeRef(s.docker, s.volume)).digest()

        # In the middle of the volume copy.
        def copying(st: dict[str, Any]) -> bool:  # the target volume exists (it is journaled first)
            created = st.get("volumes-bulk-copy", {}).get("data", {}).get("created", [])
            return s.volume in created and podman_runtime.volume(s.volume) is not None

        _kill_when(s.dir, work, copying, delay=0.3)
        assert StepJournal.open(s.dir, "migrate").state("volumes-bulk-copy") == "running"  # killed mid-copy
        target = access(VolumeRef(podman_runtime, s.volume))
        assert podman_runtime.volume(s.volume) is not None  # created, journaled, partly filled
        # At a step boundary: Docker stopped, nothing verified yet.
        _kill_when(s.dir, work, lambda st: st.get("stop-docker", {}).get("state") == "done")
        result = migrate_cli(s.dir, cwd=work)
        assert result.returncode == 0, result.stdout[-4000:]
        journal = StepJournal.open(s.dir, "migrate")
        assert journal.finished()
        assert journal.state("volumes-bulk-copy") == "done"
        assert_migrated(s, podman_runtime, digest)
        # No second copy of anything: one volume per declared one, one image per service.
        assert sorted(v.name for v in podman_runtime.project_volumes(s.name)) == sorted(s.project.named_volumes)
        assert target.mountpoint is not None
        assert sum(1 for _ in (target.mountpoint / "big").iterdir()) == 50
    finally:
        remove_stack(s, podman_runtime)
        shutil.rmtree(work, ignore_errors=True)


# -- bad input: one clear line, exit 1 ----------------------------------------------------------------------------
@pytest.fixture
def project_copy_i11() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="i11-bad-"))
    root.chmod(0o755)
    shutil.copytree(EXAMPLE, root / "stack")
    compose = root / "stack" / "docker-compose.yml"
    name = f"i11-{uuid.uuid4().hex[:8]}"
    compose.write_text(compose.read_text().replace("name: phoenix-hydra", f"name: {name}"))
    try:
        yield root / "stack"
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _failed_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = [ln for ln in result.stdout.splitlines() if ln.startswith("podshift migrate: FAILED")]
    assert lines, result.stdout[-3000:]
    return lines[-1]


def test_external_volume_is_refused(project_copy_i11: Path, docker_runtime: DockerRuntime, tmp_path: Path) -> None:
    compose = project_copy_i11 / "docker-compose.yml"
    compose.write_text(compose.read_text().replace("  worker-state:\n", "  worker-state:\n    external: true\n"))
    result = migrate_cli(project_copy_i11, cwd=tmp_path)
    assert result.returncode == 1
    line = _failed_line(result)
    assert "prerequisites" in line
    assert "external" in line
    assert "worker-state" in line
    assert "Traceback" not in result.stdout + result.stderr


def test_project_without_volumes_is_refused(tmp_path: Path) -> None:
    """Nothing of its data to move and verify: refused before anything is made (no backup, no volume)."""
    stack = tmp_path / "stack"
    stack.mkdir()
    (stack / "compose.yaml").write_text(
        f"name: i11-novol-{uuid.uuid4().hex[:8]}\nservices:\n  web:\n    image: docker.io/library/busybox:1.36\n"
    )
    result = migrate_cli(stack, cwd=tmp_path)
    assert result.returncode == 1, result.stdout[-3000:]
    line = _failed_line(result)
    assert "prerequisites" in line
    assert "the project declares no named volumes" in line
    assert "Traceback" not in result.stdout + result.stderr
    assert not (stack / ".docker-backup").exists()
    journal = json.loads((stack / ".podshift" / "migrate.json").read_text())
    assert journal["steps"]["prerequisites"]["state"] == "failed", journal  # recorded, nothing half-done


def test_project_not_on_docker_is_refused(
    project_copy_i11: Path, docker_runtime: DockerRuntime, tmp_path: Path
) -> None:
    """A project whose volumes Docker does not have (never deployed): nothing to migrate."""
    result = migrate_cli(project_copy_i11, cwd=tmp_path)
    assert result.returncode == 1
    assert "Docker has no volume" in _failed_line(result)
    assert not (project_copy_i11 / ".docker-backup").exists()  # stopped before anything was made


def test_podman_down_is_a_clear_failure(project_copy_i11: Path, docker_runtime: DockerRuntime, tmp_path: Path) -> None:
    """The target Podman does not answer: a user whose API service is not running (the socket is missing)."""
    if os.geteuid() != 0:
        pytest.skip("driving another user's Podman needs root")
    result = migrate_cli(project_copy_i11, "--rootless-user", "nobody", cwd=tmp_path)
    assert result.returncode == 1
    line = _failed_line(result)
    assert "podman (rootless) engine not reachable" in line
    assert "/run/user/65534/podman/podman.sock" in line


def test_port_taken_is_refused(docker_runtime: DockerRuntime, podman_runtime: PodmanRuntime, tmp_path: Path) -> None:
    """A published port held by another process: NOT READY at the first step, Docker left running."""
    s = make_stack(docker_runtime)
    try:
        provider = provider_for(s.project, docker_runtime)
        try:
            provider._run("stop", "worker")
        finally:
            provider.close()
        with socket.socket() as squatter:
            squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            squatter.bind(("127.0.0.1", s.ports["worker"]))
            squatter.listen()
            result = migrate_cli(s.dir, cwd=tmp_path)
        assert result.returncode == 1
        line = _failed_line(result)
        assert "NOT READY" in line
        assert str(s.ports["worker"]) in line
        assert "podshift validate --fix-issues" in line
        running = {c.service for c in docker_runtime.project_containers(s.name) if c.status == "running"}
        assert running == {"api", "web", "gateway"}  # nothing was stopped
    finally:
        remove_stack(s, podman_runtime)
