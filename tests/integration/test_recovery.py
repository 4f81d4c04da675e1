"""Recovery scenarios on a really broken copy of phoenix-hydra, moved by hand to rootful Podman.

The stack is brought up with podman-compose (through podshift's provider: no
migrate journal exists, as after a move by hand); each test breaks it for
real, runs ``pytest checks -m recovery --recover SCENARIO`` in a subprocess
and asserts what a user would see: the exit code, the one line that names
the cause, and a healthy stack with its data afterwards.
"""

from __future__ import annotations

import json
import os
import pwd
import random
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from podshift.backup.store import BackupStore
from podshift.compose import ComposeProject, load_project, provider_for
from podshift.compose.provider import PodmanComposeProvider
from podshift.errors import PodshiftError
from podshift.images import HELPER_IMAGE, ensure_helper_image
from podshift.recovery.startup import port_uses
from podshift.runtimes import DockerRuntime, PodmanRuntime
from podshift.steps import DONE, FAILED, StepJournal

from ..conftest import EXAMPLE, REPO
from .conftest import build_base_image, http

pytestmark = pytest.mark.xdist_group("podman")

#: issue 13's port range
PORTS = {"api": 21310, "web": 21311, "gateway": 21312, "worker": 21313}
MARKER = "/data/i13-marker"


@dataclass
class RecoveryStack:
    runtime: PodmanRuntime
    root: Path
    project: ComposeProject
    provider: PodmanComposeProvider
    ports: dict[str, int] = field(default_factory=lambda: dict(PORTS))

    @property
    def dir(self) -> Path:
        return self.project.project_dir

    def url(self, service: str, path: str = "/health") -> str:
        return f"http://127.0.0.1:{self.ports[service]}{path}"

    def container(self, service: str) -> str:
        return f"{self.project.name}_{service}_1"

    def states(self) -> dict[str, tuple[str, str]]:
        return {c.name: (c.id, c.status) for c in self.runtime.project_containers(self.project.name)}

    def healthy(self) -> None:
        for service in self.ports:
            assert http(self.url(service), attempts=40).strip() == "ok", service
        got = self.runtime.exec(self.container("api"), ["cat", MARKER])
        assert got.stdout.strip() == "i13", f"data lost: {got}"


@pytest.fixture(scope="module")
def rstack(podman_runtime: PodmanRuntime) -> Iterator[RecoveryStack]:
    if podman_runtime.rootless:
        pytest.skip("these tests drive rootful Podman (run as root)")
    root = Path(tempfile.mkdtemp(prefix="i13-recovery-"))
    root.chmod(0o755)
    name = f"i13-{uuid.uuid4().hex[:8]}"
    try:
        shutil.copytree(EXAMPLE, root / "stack")
        compose = root / "stack" / "docker-compose.yml"
        compose.write_text(compose.read_text().replace("name: phoenix-hydra", f"name: {name}", 1))
        (root / "data").mkdir()
        env = {f"PHOENIX_{s.upper()}_PORT": str(p) for s, p in PORTS.items()}
        env |= {"PHOENIX_SUBNET": f"10.13.{random.randint(1, 254)}.0/24", "PHOENIX_DATA_DIR": str(root / "data")}  # noqa: S311
        # .env: every tool (docker compose config, podman-compose, the subprocess runs) sees the same values.
        (root / "stack" / ".env").write_text("".join(f"{k}={v}\n" for k, v in env.items()))
        project = load_project(root / "stack")
        assert project.name == name
        build_base_image(root / "stack", podman_runtime)
        provider = provider_for(project, podman_runtime)
        assert isinstance(provider, PodmanComposeProvider)
        try:
            provider.up()
            podman_runtime.exec(f"{name}_api_1", ["sh", "-c", f"echo i13 > {MARKER}"]).check()
            yield RecoveryStack(podman_runtime, root, project, provider)
        finally:
            provider.down(volumes=True)
            provider.close()
            for c in podman_runtime.cli("ps", "-a", "--format", "{{.Names}}").stdout.split():
                if c.startswith(name):
                    podman_runtime.remove_container(c)
    finally:
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class Run:
    rc: int
    out: str
    checks: dict[str, dict[str, Any]]
    log: str
    plans: str = ""  # every step's plan (--dry-run), from the JSON report

    def check(self, name: str) -> dict[str, Any]:
        found = [c for nodeid, c in self.checks.items() if nodeid.endswith(f"::{name}")]
        assert found, f"{name} did not run: {sorted(self.checks)}\n{self.out}"
        return found[0]


def assert_nothing_to_do(stack: RecoveryStack, scenario: str, *args: str, env: dict[str, str] | None = None) -> None:
    """A second ``recover SCENARIO`` on a repaired stack succeeds and says NOTHING TO DO (it is idempotent)."""
    again = recover(stack, scenario, *args, env=env)
    assert again.rc == 0, again.out
    assert "NOTHING TO DO" in again.out, again.out


def recover(stack: RecoveryStack, scenario: str, *args: str, env: dict[str, str] | None = None) -> Run:
    """``pytest checks -m recovery --recover SCENARIO`` as a user runs it, reports in a private directory."""
    cwd = Path(tempfile.mkdtemp(prefix="i13-reports-"))
    report = cwd / "r.json"
    argv = [
        sys.executable, "-m", "pytest", str(REPO / "checks"), "-m", "recovery", "--recover", scenario,
        "--project-dir", str(stack.dir), "--rootdir", str(REPO), "-p", "no:cacheprovider",
        "--json-report", f"--json-report-file={report}", *args,
    ]  # fmt: skip
    # The target Podman is chosen by --rootless-user only: an inherited $PODSHIFT_ROOTLESS_USER would
    # send a rootful stack's recovery to the rootless user's Podman.
    base = {k: v for k, v in os.environ.items() if k != "PODSHIFT_ROOTLESS_USER"}
    proc = subprocess.run(
        argv, cwd=cwd, env={**base, **(env or {})}, capture_output=True, text=True, timeout=900, check=False
    )
    out = proc.stdout + proc.stderr
    data = json.loads(report.read_text()) if report.exists() else {}
    checks = data.get("podshift", {}).get("checks", {})
    props = [prop for t in data.get("tests", []) for prop in t.get("user_properties", [])]
    plans = "\n".join(str(value) for prop in props for key, value in prop.items() if key == "step_plan")
    log_path = cwd / "reports" / "migration-recovery.log"
    log = log_path.read_text() if log_path.exists() else ""
    shutil.rmtree(cwd, ignore_errors=True)
    return Run(proc.returncode, out, checks, log, plans)


# -- diagnose ---------------------------------------------------------------------------------------
def test_diagnose_healthy_stack_changes_nothing(rstack: RecoveryStack) -> None:
    store = BackupStore(rstack.dir)
    store.create(rstack.project, rstack.runtime, include_data=True, force=True)
    before = rstack.states()
    run = recover(rstack, "diagnose")
    assert run.rc == 0, run.out
    assert "podshift recover diagnose: DONE" in run.out
    for name in (
        "test_engines_answer",
        "test_no_action_stopped_midway",
        "test_published_ports_served_by_the_project",
        "test_containers_run_on_one_engine",
        "test_networks_exist",
        "test_config_matches_backup",
    ):
        assert run.check(name)["outcome"] == "passed", (name, run.check(name))
    assert rstack.states() == before
    # The report names both engines, who serves each port, and each volume against the backup.
    assert "engine docker: docker at /var/run/docker.sock: running" in run.log
    assert f"port {PORTS['api']} (api): served by podman: port {PORTS['api']} is held by PID" in run.log
    assert f"volume {rstack.project.name}_api-data (podman)" in run.log
    assert "journal migrate: none" in run.log


def test_diagnose_half_migrated_names_the_step_and_the_command(rstack: RecoveryStack) -> None:
    journal = StepJournal.open(rstack.dir, "migrate")
    journal.mark("stop-docker", DONE, result="stopped")
    journal.mark("copy-volumes", FAILED, error="disk full")
    try:
        run = recover(rstack, "diagnose")
    finally:
        journal.path.unlink()
    assert run.rc == 1, run.out
    found = run.check("test_no_action_stopped_midway")
    assert found["outcome"] == "failed"
    assert "the migrate stopped at step copy-volumes" in found["message"]
    assert f"podshift migrate --project-dir {rstack.dir}` (resumes at copy-volumes)" in found["message"]


def test_diagnose_with_docker_down(rstack: RecoveryStack) -> None:
    dead = f"/tmp/i13-dead-{uuid.uuid4().hex[:6]}.sock"
    run = recover(rstack, "diagnose", env={"DOCKER_HOST": f"unix://{dead}"})
    assert run.rc == 1, run.out
    found = run.check("test_engines_answer")
    assert found["outcome"] == "failed"
    assert f"docker is not running at {dead}: the socket does not exist" in found["message"]
    # Podman's side is still diagnosed.
    assert run.check("test_published_ports_served_by_the_project")["outcome"] == "passed"


# -- failed-startup ---------------------------------------------------------------------------------
def test_failed_startup_removes_a_blocking_leftover(rstack: RecoveryStack) -> None:
    # The worker: nothing depends on it (podman-compose links dependants with --requires).
    rt, name = rstack.runtime, rstack.container("worker")
    rt.cli("stop", "-t", "2", name).check()
    rt.remove_container(name)
    # A leftover from another tool: this project's label, not podman-compose's, so `up` cannot recreate it.
    rt.cli(
        "create", "--name", name, "--label", f"com.docker.compose.project={rstack.project.name}",
        "localhost/phoenix-base:1", "true",
    ).check()  # fmt: skip
    # Induced for real: podman-compose cannot bring the stack back by itself.
    with pytest.raises(PodshiftError, match="already in use"):
        rstack.provider.up(timeout=30)
    run = recover(rstack, "failed-startup")
    assert run.rc == 0, run.out
    assert run.check("test_every_service_healthy")["outcome"] == "passed"
    assert f"removing {name} (created, " in run.log
    rstack.healthy()
    assert_nothing_to_do(rstack, "failed-startup")


def test_failed_startup_names_the_process_holding_a_port(rstack: RecoveryStack) -> None:
    rt = rstack.runtime
    rt.cli("stop", "-t", "2", rstack.container("web")).check()
    rt.cli("stop", "-t", "2", rstack.container("gateway")).check()
    holder = subprocess.Popen(
        [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(PORTS["web"])],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        http(f"http://127.0.0.1:{PORTS['web']}/", attempts=20)
        before = rstack.states()
        run = recover(rstack, "failed-startup")
        assert run.rc == 1, run.out
        line = next(ln for ln in run.out.splitlines() if ln.startswith("podshift recover failed-startup: FAILED"))
        assert f"port {PORTS['web']} is held by PID {holder.pid} ({sys.executable} -m http.server" in line
        assert rstack.states() == before, "a scenario that cannot repair must leave the stack as it was"
    finally:
        holder.terminate()
        holder.wait(10)
    run = recover(rstack, "failed-startup")
    assert run.rc == 0, run.out
    rstack.healthy()


def test_failed_startup_dry_run_changes_nothing(rstack: RecoveryStack) -> None:
    rstack.runtime.cli("stop", "-t", "2", rstack.container("worker")).check()
    before = rstack.states()
    run = recover(rstack, "failed-startup", "--dry-run")
    assert run.rc == 0, run.out
    assert "PLANNED" in run.out
    assert f"$ podman stop {rstack.container('api')}" in run.plans
    assert rstack.states() == before
    assert recover(rstack, "failed-startup").rc == 0
    rstack.healthy()


# -- network-issues ---------------------------------------------------------------------------------
def test_network_issues_names_dockers_bridge_then_recreates_the_network(rstack: RecoveryStack) -> None:
    name = rstack.project.name
    subnet = rstack.project.networks["phoenix-net"]["ipam"]["config"][0]["subnet"]
    docker_net = f"{name}_phoenix-net"
    rstack.provider.down()  # Podman's network is gone, as when a move stopped half-way
    # Docker's bridge of the same stack keeps the subnet (as after `docker compose stop`).
    label = f"com.docker.compose.project={name}"
    created = subprocess.run(
        ["docker", "network", "create", "--subnet", subnet, "--label", label, docker_net],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    try:
        refused = rstack.runtime.cli("network", "create", "--subnet", subnet, f"i13-probe-{uuid.uuid4().hex[:6]}")
        assert refused.rc != 0, "the subnet conflict was not induced"
        assert "is already used on the host" in refused.stderr
        before = rstack.states()
        run = recover(rstack, "network-issues")
        assert run.rc == 1, run.out
        line = next(ln for ln in run.out.splitlines() if ln.startswith("podshift recover network-issues: FAILED"))
        assert f"subnet {subnet} is already claimed by Docker network {docker_net} (bridge br-" in line
        assert f'compose project {name}); podman says: "Error: subnet {subnet} is already used on the host' in line
        assert f"next: `docker compose -p {name} down`" in line
        assert rstack.states() == before
    finally:
        subprocess.run(["docker", "network", "rm", docker_net], capture_output=True, check=False)
    run = recover(rstack, "network-issues")
    assert run.rc == 0, run.out
    assert "-P FORWARD DROP" in run.check("test_forward_policy_accepts")["message"]
    assert run.check("test_services_reach_each_other")["outcome"] == "passed"
    assert {n.name: n.subnets for n in rstack.runtime.project_networks(name)} == {docker_net: (subnet,)}
    rstack.healthy()
    assert_nothing_to_do(rstack, "network-issues")


# -- failed-build -----------------------------------------------------------------------------------
@dataclass
class BuildProject:
    runtime: PodmanRuntime
    dir: Path
    name: str
    short: str  # a short-name base image only Docker has

    def image(self, service: str) -> str:
        return f"localhost/{self.name}-{service}:1"


@pytest.fixture
def build_project(podman_runtime: PodmanRuntime) -> Iterator[BuildProject]:
    """A small project whose one service uses a short-name base (in Docker's store only) and COPY --chmod=u+x."""
    if podman_runtime.rootless:
        pytest.skip("these tests drive rootful Podman (run as root)")
    name = f"i13-build-{uuid.uuid4().hex[:8]}"
    short = f"{name}-base:1"
    root = Path(tempfile.mkdtemp(prefix="i13-build-"))
    build_base_image(EXAMPLE, DockerRuntime())
    subprocess.run(["docker", "tag", "localhost/phoenix-base:1", short], check=True, capture_output=True)
    app = root / "app"
    app.mkdir()
    (app / "run.sh").write_text("#!/bin/sh\necho i13\n")
    (app / "run.sh").chmod(0o644)
    (app / "Dockerfile").write_text(f'FROM {short}\nCOPY --chmod=u+x run.sh /run.sh\nCMD ["/run.sh"]\n')
    (root / "compose.yaml").write_text(
        f"name: {name}\nservices:\n  app:\n    build: {{context: app}}\n    image: localhost/{name}-app:1\n"
    )
    project = BuildProject(podman_runtime, root, name, short)
    try:
        yield project
    finally:
        for ref in (project.image("app"), project.image("bad"), f"localhost/{short}"):
            podman_runtime.image_remove(ref)
        subprocess.run(["docker", "rmi", short], capture_output=True, check=False)
        shutil.rmtree(root, ignore_errors=True)


def _recover_build(project: BuildProject, *args: str) -> Run:
    stack = RecoveryStack(project.runtime, project.dir, load_project(project.dir), None)  # type: ignore[arg-type]
    return recover(stack, "failed-build", *args)


def test_failed_build_carries_the_base_and_rewrites_chmod(build_project: BuildProject) -> None:
    dockerfile = build_project.dir / "app" / "Dockerfile"
    original = dockerfile.read_text()
    # Induced for real: Podman 4.3.1 cannot build it.
    refused = build_project.runtime.cli("build", "-t", build_project.image("app"), str(build_project.dir / "app"))
    assert refused.rc != 0
    assert f'short-name "{build_project.short}" did not resolve to an alias' in refused.stderr

    planned = _recover_build(build_project, "--dry-run")
    assert planned.rc == 0, planned.out
    assert f"docker save {build_project.short} | podman load" in planned.plans
    assert "+COPY --chmod=744 run.sh /run.sh" in planned.plans
    assert dockerfile.read_text() == original
    assert build_project.runtime.image(build_project.short) is None

    run = _recover_build(build_project)
    assert run.rc == 0, run.out
    assert dockerfile.read_text() == original.replace("--chmod=u+x", "--chmod=744")
    mode = build_project.runtime.cli("run", "--rm", build_project.image("app"), "stat", "-c", "%a", "/run.sh")
    assert mode.stdout.strip() == "744", mode
    again = _recover_build(build_project)
    assert again.rc == 0, again.out
    assert "NOTHING TO DO" in again.out


def test_failed_build_names_the_service_with_a_heredoc(build_project: BuildProject) -> None:
    bad = build_project.dir / "bad"
    bad.mkdir()
    (bad / "Dockerfile").write_text("FROM localhost/phoenix-base:1\nRUN <<EOF\necho hi > /x\nEOF\n")
    compose = build_project.dir / "compose.yaml"
    compose.write_text(
        compose.read_text() + f"  bad:\n    build: {{context: bad}}\n    image: {build_project.image('bad')}\n"
    )
    run = _recover_build(build_project)
    assert run.rc == 1, run.out
    line = next(ln for ln in run.out.splitlines() if ln.startswith("podshift recover failed-build: FAILED"))
    assert "at step build-services: service bad does not build:" in line
    assert "Unknown instruction" in run.out or "unknown instruction" in run.out.lower(), run.out
    assert f"{bad / 'Dockerfile'}:2: RUN <<EOF: buildah 1.28 stops" in run.out
    assert run.check("test_no_heredocs")["outcome"] == "skipped"  # checks after a failed step do not run


# -- volume-issues ----------------------------------------------------------------------------------
def test_volume_issues_restores_a_missing_volume_from_the_backup(rstack: RecoveryStack) -> None:
    store = BackupStore(rstack.dir)
    store.create(rstack.project, rstack.runtime, include_data=True, force=True)  # holds the api marker
    volume = f"{rstack.project.name}_api-data"
    rstack.provider.down()  # containers go (podman-compose links them with --requires); volumes stay
    rstack.runtime.cli("volume", "rm", volume).check()
    assert rstack.runtime.volume(volume) is None
    planned = recover(rstack, "volume-issues", "--dry-run")
    assert planned.rc == 0, planned.out
    assert f"volume {volume} is missing (the backup holds it): restore from the backup, verified" in planned.plans
    assert rstack.runtime.volume(volume) is None
    run = recover(rstack, "volume-issues")
    assert run.rc == 0, run.out
    assert run.check("test_project_volumes_present")["outcome"] == "passed"
    assert run.check("test_bind_mounts_usable")["outcome"] == "passed"
    rstack.healthy()  # the marker written before the backup is back
    assert volume in {v.name for v in rstack.runtime.project_volumes(rstack.project.name)}, "restored without labels"
    assert_nothing_to_do(rstack, "volume-issues")


def test_volume_issues_reowns_a_bind_source_inside_the_user_namespace(
    rootless_podman_runtime: PodmanRuntime,
) -> None:
    """Rootless: container uid 999 is host uid 100998-ish and cannot enter a 0700 source of the user's."""
    runtime = rootless_podman_runtime
    assert runtime.run_as is not None, "run as root with PODSHIFT_ROOTLESS_USER set"
    user = runtime.run_as.user
    ensure_helper_image(runtime)
    name = f"i13-vol-{uuid.uuid4().hex[:8]}"
    root = Path(tempfile.mkdtemp(prefix="i13-vol-"))
    root.chmod(0o755)
    data = root / "data"
    data.mkdir()
    (data / "file").write_text("i13\n")
    pw = pwd.getpwnam(user)
    for p in (data, data / "file"):
        os.chown(p, pw.pw_uid, pw.pw_gid)
    data.chmod(0o700)
    (root / "compose.yaml").write_text(
        f"name: {name}\nservices:\n  app:\n    image: {HELPER_IMAGE}\n    pull_policy: never\n"
        '    user: "999:999"\n    network_mode: none\n    command: ["sleep", "3600"]\n'
        "    volumes: [./data:/data]\n"
    )
    provider = provider_for(load_project(root), runtime)
    try:
        provider.up()
        container = f"{name}_app_1"
        denied = runtime.exec(container, ["ls", "/data"])
        assert denied.rc != 0, denied  # induced for real
        assert "Permission denied" in denied.stderr + denied.stdout
        stack = RecoveryStack(runtime, root, load_project(root), provider)  # type: ignore[arg-type]
        run = recover(stack, "volume-issues", "--rootless-user", user)
        assert run.rc == 0, run.out
        assert "podman unshare chown -R 999:999" in run.log
        assert runtime.exec(container, ["cat", "/data/file"]).stdout == "i13\n"
        assert os.stat(data).st_uid != pw.pw_uid  # now the mapped id of container uid 999
        journal = StepJournal.open(root, "recover-volume-issues")
        owners = journal.data("reown-bind-sources")["owners"][str(data)]
        assert [str(data), pw.pw_uid, pw.pw_gid, 0o700] in owners
        again = recover(stack, "volume-issues", "--rootless-user", user)
        assert "NOTHING TO DO" in again.out, again.out
    finally:
        provider.down()
        provider.close()
        runtime.cli("unshare", "rm", "-rf", str(data))
        shutil.rmtree(root, ignore_errors=True)


def test_failed_startup_rootless_tells_its_own_rootlessport_from_a_foreign_holder(
    rootless_podman_runtime: PodmanRuntime,
) -> None:
    """Rootless: ports are held by ``rootlessport`` (a daemon, not conmon's child), named by its netns."""
    runtime = rootless_podman_runtime
    assert runtime.run_as is not None, "run as root with PODSHIFT_ROOTLESS_USER set"
    ensure_helper_image(runtime)
    name, port = f"i13-rl-{uuid.uuid4().hex[:8]}", 21392
    root = Path(tempfile.mkdtemp(prefix="i13-rl-"))
    root.chmod(0o755)
    (root / "compose.yaml").write_text(
        f"name: {name}\nservices:\n  web:\n    image: {HELPER_IMAGE}\n    pull_policy: never\n"
        f'    ports: ["127.0.0.1:{port}:8000"]\n'
        "    command: [sh, -c, 'mkdir -p /www && echo ok > /www/health && exec httpd -f -p 8000 -h /www']\n"
    )
    project = load_project(root)
    provider = provider_for(project, runtime)
    holder = None
    try:
        provider.up()
        assert http(f"http://127.0.0.1:{port}/health").strip() == "ok"
        uses = port_uses(runtime, project)
        assert [(u.holder.program, u.kind, u.container) for u in uses] == [("rootlessport", "ours", f"{name}_web_1")]
        runtime.cli("stop", "-t", "1", f"{name}_web_1").check()
        holder = subprocess.Popen(
            [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        http(f"http://127.0.0.1:{port}/", attempts=20)
        stack = RecoveryStack(runtime, root, project, provider)  # type: ignore[arg-type]
        before = stack.states()
        run = recover(stack, "failed-startup", "--rootless-user", runtime.run_as.user)
        assert run.rc == 1, run.out
        assert f"port {port} is held by PID {holder.pid} ({sys.executable} -m http.server" in run.out
        assert stack.states() == before
        holder.terminate()
        holder.wait(10)
        holder = None
        run = recover(stack, "failed-startup", "--rootless-user", runtime.run_as.user)
        assert run.rc == 0, run.out
        assert http(f"http://127.0.0.1:{port}/health").strip() == "ok"
        again = recover(stack, "failed-startup", "--rootless-user", runtime.run_as.user)
        assert "NOTHING TO DO" in again.out, again.out
    finally:
        if holder is not None:
            holder.terminate()
            holder.wait(10)
        provider.down()
        provider.close()
        shutil.rmtree(root, ignore_errors=True)


# -- permission-issues ------------------------------------------------------------------------------
def test_permission_issues_on_a_sound_host_changes_nothing(rstack: RecoveryStack) -> None:
    rootful = recover(rstack, "permission-issues")
    assert rootful.rc == 0, rootful.out
    assert "rootful Podman: no user namespace, nothing to do" in rootful.log
    assert rootful.check("test_container_starts_as_the_user")["outcome"] == "passed"
    user = os.environ.get("PODSHIFT_ROOTLESS_USER")
    if not user:
        return
    StepJournal.open(rstack.dir, "recover-permission-issues").path.unlink()  # the steps run again, rootless
    first = recover(rstack, "permission-issues", "--rootless-user", user)
    assert first.rc == 0, first.out
    assert first.check("test_sub_ids_mapped")["outcome"] == "passed"
    assert first.check("test_newuidmap_privileged")["outcome"] == "passed"
    assert "subuid-ranges: nothing to change" in first.log
    again = recover(rstack, "permission-issues", "--rootless-user", user)
    assert "NOTHING TO DO" in again.out, again.out


# -- the command line -------------------------------------------------------------------------------
def test_cli_verbs(rstack: RecoveryStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from podshift.cli import main

    monkeypatch.delenv("PODSHIFT_ROOTLESS_USER", raising=False)
    reports = tmp_path / "reports"
    before = rstack.states()
    assert main(["recover", "failed-startup", str(rstack.dir), "--dry-run", "--reports-dir", str(reports), "-q"]) == 0
    assert main(["diagnose", str(rstack.dir), "--reports-dir", str(reports), "-q"]) in (0, 1)
    assert rstack.states() == before
    assert "podshift diagnose: project" in (reports / "diagnosis.txt").read_text()
    assert (reports / "migration-recovery.log").read_text()
    with pytest.raises(SystemExit) as exited:  # argparse's own usage error
        main(["recover", "no-such-scenario", str(rstack.dir)])
    assert exited.value.code == 2
