"""Recovery scenarios for rootless Podman on a copy of phoenix-hydra that ``podshift migrate`` moved.

The stack is deployed on Docker and moved by ``podshift migrate --rootless-user``
(not by hand), so the scenarios meet what a real migration leaves: its journal,
Docker's stopped containers and volumes, the user's Podman serving the ports.
Each test breaks the stack for real as that user, runs the scenario, and asserts
the stack answers again with its data unchanged, then that a second run has
nothing to do.  Names start with ``s4-``, ports are 21600-21649, subnets 10.114.x.0/24.
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
from pathlib import Path

import pytest

from podshift.commands import run
from podshift.compose import load_project, provider_for
from podshift.compose.provider import PodmanComposeProvider
from podshift.drill import free_ports
from podshift.errors import PodshiftError
from podshift.images import HELPER_IMAGE, ensure_helper_image
from podshift.ports import holders
from podshift.recovery.build import is_working_container
from podshift.recovery.startup import port_uses
from podshift.runtimes import DockerRuntime, PodmanRuntime
from podshift.volumes.transfer import VolumeRef, snapshot

from ..conftest import EXAMPLE
from .conftest import build_base_image, http
from .test_recovery import MARKER, BuildProject, RecoveryStack, Run, assert_nothing_to_do, recover

pytestmark = pytest.mark.xdist_group("podman-rootless")


PORTS = dict(
    zip(("api", "web", "gateway", "worker"), free_ports(4, random.sample(range(21600, 21640), 40)), strict=True)
)


class MigratedStack(RecoveryStack):
    """A stack ``podshift migrate`` moved to the user's rootless Podman; *digest* is its api volume's content."""

    docker: DockerRuntime
    digest: str
    user: str

    @property
    def volume(self) -> str:
        return f"{self.project.name}_api-data"

    def data_digest(self) -> str:
        return snapshot(VolumeRef(self.runtime, self.volume)).digest()

    def healthy(self) -> None:
        super().healthy()
        assert self.data_digest() == self.digest, "the api volume's content changed"

    def recover(self, scenario: str, *args: str):  # type: ignore[no-untyped-def]
        return recover(self, scenario, "--rootless-user", self.user, *args)


def _forget_dns(runtime: PodmanRuntime, project: str) -> None:
    """Remove aardvark-dns entries of this project's networks once the networks are gone.

    Seen here: a container whose start fails (rootlessport refusing a port) or whose conmon hung keeps
    its entry in ``$XDG_RUNTIME_DIR/containers/networks/aardvark-dns/<network>`` after the network is
    removed; the next network gets the same gateway (10.89.0.1) and aardvark-dns answers NXDOMAIN for
    every new container of the user.  The shared rootless user must not be left like that.
    """
    assert runtime.run_as is not None
    dns = Path(runtime.run_as.runtime_dir) / "containers" / "networks" / "aardvark-dns"
    networks = set(runtime.cli("network", "ls", "--format", "{{.Name}}").stdout.split())
    for entry in dns.glob(f"{project}_*") if dns.is_dir() else ():
        if entry.name not in networks:
            entry.unlink(missing_ok=True)


def _web_project(runtime: PodmanRuntime, prefix: str, port: int) -> tuple[str, Path]:
    """(name, dir) of a one-service project: busybox httpd answering /health, published on 127.0.0.1:*port*."""
    ensure_helper_image(runtime)
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    root = Path(tempfile.mkdtemp(prefix=f"{prefix}-"))
    root.chmod(0o755)
    (root / "compose.yaml").write_text(
        f"name: {name}\nservices:\n  web:\n    image: {HELPER_IMAGE}\n    pull_policy: never\n"
        f'    ports: ["127.0.0.1:{port}:8000"]\n'
        "    command: [sh, -c, 'mkdir -p /www && echo ok > /www/health && exec httpd -f -p 8000 -h /www']\n"
    )
    return name, root


def _user(runtime: PodmanRuntime) -> str:
    if runtime.run_as is None:
        pytest.skip("needs root driving a rootless user's Podman (PODSHIFT_ROOTLESS_USER)")
    return runtime.run_as.user


@pytest.fixture(scope="module")
def migrated(docker_runtime: DockerRuntime, rootless_podman_runtime: PodmanRuntime) -> Iterator[MigratedStack]:
    """phoenix-hydra on Docker, then ``podshift migrate --rootless-user USER``; everything removed afterwards."""
    user = _user(rootless_podman_runtime)
    root = Path(tempfile.mkdtemp(prefix="s4-recovery-"))
    root.chmod(0o755)  # the rootless user reads the project and its data dir
    name = f"s4-rl-{uuid.uuid4().hex[:8]}"
    stack = root / "stack"
    shutil.copytree(EXAMPLE, stack)
    compose = stack / "docker-compose.yml"
    text = compose.read_text().replace("name: phoenix-hydra", f"name: {name}", 1)
    compose.write_text(text.replace("localhost/phoenix-hydra-", f"localhost/{name}-"))
    (root / "data").mkdir()
    env = {f"PHOENIX_{s.upper()}_PORT": str(p) for s, p in PORTS.items()}
    env |= {"PHOENIX_SUBNET": f"10.114.{random.randint(1, 254)}.0/24", "PHOENIX_DATA_DIR": str(root / "data")}  # noqa: S311
    (stack / ".env").write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    project = load_project(stack)
    runtime = rootless_podman_runtime
    try:
        run([str(stack / "compose/base/build-base.sh"), "docker"], timeout=300).check()
        on_docker = provider_for(project, docker_runtime)
        try:
            on_docker.up()
        finally:
            on_docker.close()
        docker_runtime.exec(f"{name}-api-1", ["sh", "-c", f"echo i13 > {MARKER}"]).check()
        work = root / "work"
        work.mkdir()
        env_cli = {k: v for k, v in os.environ.items() if k != "PODSHIFT_ROOTLESS_USER"}
        argv = [sys.executable, "-m", "podshift.cli", "migrate", "--project-dir", str(stack), "--rootless-user", user]
        moved = subprocess.run(argv, cwd=work, env=env_cli, capture_output=True, text=True, timeout=900, check=False)
        assert moved.returncode == 0, moved.stdout[-4000:] + moved.stderr[-2000:]
        assert "podshift migrate: DONE" in moved.stdout
        provider = provider_for(project, runtime)
        assert isinstance(provider, PodmanComposeProvider)
        s = MigratedStack(runtime, root, project, provider, dict(PORTS))
        s.docker, s.user = docker_runtime, user
        s.digest = s.data_digest()
        try:
            yield s
        finally:
            provider.down(volumes=True)
            provider.close()
    finally:
        _remove(project, docker_runtime, runtime)
        _forget_dns(runtime, name)
        shutil.rmtree(root, ignore_errors=True)


def _remove(project, docker: DockerRuntime, podman: PodmanRuntime) -> None:  # type: ignore[no-untyped-def]
    for runtime in (docker, podman):
        provider = provider_for(project, runtime)
        try:
            provider.down(volumes=True)
        except PodshiftError as e:  # teardown goes on
            print(f"teardown: {e}")
        finally:
            provider.close()
        for c in runtime.project_containers(project.name):
            runtime.remove_container(c.name)
        for v in project.named_volumes:
            runtime.volume_remove(v, force=True)
    for service in project.services.values():
        if service.image:
            docker.image_remove(service.image)
            podman.cli("rmi", service.image)  # never force: it would remove anyone's containers of that image


# -- diagnose ---------------------------------------------------------------------------------------
def test_rootless_diagnose_of_a_migrated_stack(migrated: MigratedStack) -> None:
    migrated.healthy()
    before = migrated.states()
    got = migrated.recover("diagnose")
    assert got.rc == 0, got.out
    for name in (
        "test_engines_answer",
        "test_no_action_stopped_midway",
        "test_published_ports_served_by_the_project",
        "test_containers_run_on_one_engine",
        "test_networks_exist",
    ):
        assert got.check(name)["outcome"] == "passed", (name, got.check(name))
    assert migrated.states() == before
    assert "journal migrate: finished" in got.log
    assert f"port {PORTS['api']} (api): served by podman: port {PORTS['api']} is held by PID" in got.log
    assert "rootlessport" in got.log, got.log


# -- failed-startup ---------------------------------------------------------------------------------
def test_rootless_failed_startup_after_migrate(migrated: MigratedStack) -> None:
    rt, name = migrated.runtime, migrated.container("worker")
    image = rt.cli("inspect", "--format", "{{.ImageName}}", name).check().stdout.strip()
    rt.cli("stop", "-t", "2", name).check()
    rt.remove_container(name)
    # A leftover from another tool: this project's label, not podman-compose's, so `up` cannot recreate it.
    label = f"com.docker.compose.project={migrated.project.name}"
    rt.cli("create", "--name", name, "--label", label, image, "true").check()
    with pytest.raises(PodshiftError, match="already in use"):  # induced for real
        migrated.provider.up(timeout=30)
    got = migrated.recover("failed-startup")
    assert got.rc == 0, got.out
    assert got.check("test_every_service_healthy")["outcome"] == "passed"
    assert f"removing {name} (created, " in got.log
    migrated.healthy()
    again = migrated.recover("failed-startup")
    assert again.rc == 0, again.out
    assert "NOTHING TO DO" in again.out


# -- network-issues ---------------------------------------------------------------------------------
def test_rootless_network_issues_names_dockers_bridge_then_recreates(migrated: MigratedStack) -> None:
    name = migrated.project.name
    subnet = migrated.project.networks["phoenix-net"]["ipam"]["config"][0]["subnet"]
    net = f"{name}_phoenix-net"
    migrated.provider.down()  # the user's network is gone, as when a move stopped half-way
    created = subprocess.run(
        ["docker", "network", "create", "--subnet", subnet, "--label", f"com.docker.compose.project={name}", net],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    try:
        probe = f"s4-probe-{uuid.uuid4().hex[:6]}"
        refused = migrated.runtime.cli("network", "create", "--subnet", subnet, probe)
        if refused.rc == 0:
            migrated.runtime.cli("network", "rm", probe)
        assert refused.rc != 0, "the subnet conflict was not induced for the rootless user"
        assert "is already used on the host" in refused.stderr
        before = migrated.states()
        got = migrated.recover("network-issues")
        assert got.rc == 1, got.out
        line = next(ln for ln in got.out.splitlines() if ln.startswith("podshift recover network-issues: FAILED"))
        assert f"subnet {subnet} is already claimed by Docker network {net} (bridge br-" in line
        assert f"next: `docker compose -p {name} down`" in line
        assert migrated.states() == before
    finally:
        subprocess.run(["docker", "network", "rm", net], capture_output=True, check=False)
    got = migrated.recover("network-issues")
    assert got.rc == 0, got.out
    assert got.check("test_services_reach_each_other")["outcome"] == "passed"
    assert {n.name: n.subnets for n in migrated.runtime.project_networks(name)} == {net: (subnet,)}
    migrated.healthy()
    again = migrated.recover("network-issues")
    assert again.rc == 0, again.out
    assert "NOTHING TO DO" in again.out


# -- failed-build -----------------------------------------------------------------------------------
@pytest.fixture
def build_project(docker_runtime: DockerRuntime, rootless_podman_runtime: PodmanRuntime) -> Iterator[BuildProject]:
    """One service built FROM a short-name base only Docker has, with COPY --chmod=u+x (two failures for buildah)."""
    user = _user(rootless_podman_runtime)
    name = f"s4-build-{uuid.uuid4().hex[:8]}"
    short = f"{name}-base:1"
    root = Path(tempfile.mkdtemp(prefix="s4-build-"))
    root.chmod(0o755)
    build_base_image(EXAMPLE, docker_runtime)
    subprocess.run(["docker", "tag", "localhost/phoenix-base:1", short], check=True, capture_output=True)
    app = root / "app"
    app.mkdir()
    (app / "run.sh").write_text("#!/bin/sh\necho s4\n")
    (app / "run.sh").chmod(0o644)
    (app / "Dockerfile").write_text(f'FROM {short}\nCOPY --chmod=u+x run.sh /run.sh\nCMD ["/run.sh"]\n')
    (root / "compose.yaml").write_text(
        f"name: {name}\nservices:\n  app:\n    build: {{context: app}}\n    image: localhost/{name}-app:1\n"
    )
    project = BuildProject(rootless_podman_runtime, root, name, short)
    project.user = user  # type: ignore[attr-defined]
    try:
        yield project
    finally:
        for ref in (project.image("app"), f"localhost/{short}"):
            rootless_podman_runtime.cli("rmi", ref)
        subprocess.run(["docker", "rmi", short], capture_output=True, check=False)
        shutil.rmtree(root, ignore_errors=True)


def _recover_build(project: BuildProject, *args: str) -> Run:
    stack = RecoveryStack(project.runtime, project.dir, load_project(project.dir), None)  # type: ignore[arg-type]
    return recover(stack, "failed-build", "--rootless-user", project.user, *args)  # type: ignore[attr-defined]


def test_rootless_failed_build_carries_the_base_and_rewrites_chmod(build_project: BuildProject) -> None:
    rt = build_project.runtime
    dockerfile = build_project.dir / "app" / "Dockerfile"
    original = dockerfile.read_text()
    refused = rt.cli("build", "-t", build_project.image("app"), str(build_project.dir / "app"))
    assert refused.rc != 0  # induced for real, as the user
    assert f'short-name "{build_project.short}" did not resolve to an alias' in refused.stderr
    got = _recover_build(build_project)
    assert got.rc == 0, got.out
    assert dockerfile.read_text() == original.replace("--chmod=u+x", "--chmod=744")
    assert rt.image(build_project.short) is not None, "the base was not carried into the user's store"
    mode = rt.cli("run", "--rm", "--network=none", build_project.image("app"), "stat", "-c", "%a", "/run.sh")
    assert mode.stdout.strip() == "744", mode
    assert rt.cli("run", "--rm", "--network=none", build_project.image("app")).stdout.strip() == "s4"
    again = _recover_build(build_project)
    assert again.rc == 0, again.out
    assert "NOTHING TO DO" in again.out


# -- failed-startup: a privileged port under rootless Podman (podman#13426) --------------------------
PORT_KEY = "net.ipv4.ip_unprivileged_port_start"
PORT_DROPIN = Path("/etc/sysctl.d/60-podshift-unprivileged-ports.conf")
LOW_PORT = 880


def _fixes_revert(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "podshift.cli", "fixes", "revert"]
    return subprocess.run(argv, env={**os.environ, **env}, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def port_sysctl() -> Iterator[int]:
    """The host's ip_unprivileged_port_start, put back (with the drop-in as it was) whatever the test did."""
    found = int(run(["sysctl", "-n", PORT_KEY]).check().stdout.strip())
    if found <= LOW_PORT:
        pytest.skip(f"{PORT_KEY} is {found} here: port {LOW_PORT} is not privileged, nothing to induce")
    dropin = PORT_DROPIN.read_bytes() if PORT_DROPIN.exists() else None
    try:
        yield found
    finally:
        run(["sysctl", "-w", f"{PORT_KEY}={found}"]).check()
        if dropin is None:
            PORT_DROPIN.unlink(missing_ok=True)
        else:
            PORT_DROPIN.write_bytes(dropin)


def test_rootless_failed_startup_privileged_port_through_the_existing_fix(
    rootless_podman_runtime: PodmanRuntime, port_sysctl: int
) -> None:
    runtime = rootless_podman_runtime
    user = _user(runtime)
    name, root = _web_project(runtime, "s4-low", LOW_PORT)
    journal = {"PODSHIFT_FIXES_JOURNAL": str(root / "fixes-journal.json")}
    project = load_project(root)
    provider = provider_for(project, runtime)
    stack = RecoveryStack(runtime, root, project, provider, {"web": LOW_PORT})  # type: ignore[arg-type]
    try:
        with pytest.raises(PodshiftError, match=f"cannot expose privileged port {LOW_PORT}"):
            provider.up(timeout=60)  # induced for real
        before = stack.states()
        refused = recover(stack, "failed-startup", "--rootless-user", user, env=journal)
        assert refused.rc == 1, refused.out
        line = next(ln for ln in refused.out.splitlines() if ln.startswith("podshift recover failed-startup: FAILED"))
        assert f"service web publishes port {LOW_PORT}, below {PORT_KEY} ({port_sysctl})" in line
        assert f"rootlessport cannot expose privileged port {LOW_PORT}" in line
        assert "--allow-system-changes" in line
        assert stack.states() == before, "a scenario that cannot repair must leave the stack as it was"
        assert int(run(["sysctl", "-n", PORT_KEY]).stdout) == port_sysctl

        fixed = recover(stack, "failed-startup", "--rootless-user", user, "--allow-system-changes", env=journal)
        assert fixed.rc == 0, fixed.out
        assert "unprivileged-port-start applied (fixes journal" in fixed.out + fixed.log
        assert fixed.check("test_published_ports_unprivileged")["outcome"] == "passed"
        assert int(run(["sysctl", "-n", PORT_KEY]).stdout) == LOW_PORT
        assert http(f"http://127.0.0.1:{LOW_PORT}/health").strip() == "ok"
        assert_nothing_to_do(stack, "failed-startup", "--rootless-user", user, "--allow-system-changes", env=journal)

        reverted = _fixes_revert(journal)  # the fix went through the fixes journal: `podshift fixes revert` undoes it
        assert reverted.returncode == 0, reverted.stdout + reverted.stderr
        assert int(run(["sysctl", "-n", PORT_KEY]).stdout) == port_sysctl
        assert not PORT_DROPIN.exists()
    finally:
        provider.down()
        provider.close()
        _forget_dns(runtime, name)
        shutil.rmtree(root, ignore_errors=True)


# -- failed-build: a failed build's leftovers, this project's only -----------------------------------
def _working_containers(rt: PodmanRuntime) -> dict[str, str]:
    """buildah working container name -> its image id, as the user's Podman lists them."""
    out = rt.cli("ps", "-a", "--external", "--format", "json").check().stdout
    return {
        str(c["Names"][0]): str(c.get("ImageID", ""))
        for c in json.loads(out or "[]")
        if is_working_container(str(c["Names"][0]))
    }


def _dangling(rt: PodmanRuntime) -> set[str]:
    return set(
        rt.cli("images", "--filter", "dangling=true", "--format", "{{.Id}}", "--no-trunc").check().stdout.split()
    )


def _failing_build(rt: PodmanRuntime, context: Path, tag: str, step: str) -> tuple[dict[str, str], set[str]]:
    """``podman build --force-rm=false`` that fails: the working container and dangling images it left.

    The store is shared with other tests: only images whose history holds this build's *step* count.
    """
    containers, images = _working_containers(rt), _dangling(rt)
    failed = rt.cli("build", "--force-rm=false", "-t", tag, str(context))
    assert failed.rc != 0, failed.stdout[-500:]
    assert "while running runtime: exit status" in failed.stderr, failed.stderr[-800:]
    left = {n: i for n, i in _working_containers(rt).items() if n not in containers}
    dangling = {
        i
        for i in _dangling(rt) - images
        if step in rt.cli("image", "history", "--no-trunc", "--format", "{{.CreatedBy}}", i).stdout
    }
    assert left, f"the failed build left no working container: {failed.stderr[-500:]}"
    assert dangling, f"the failed build left no dangling image: {failed.stderr[-500:]}"
    return left, dangling


def test_rootless_failed_build_removes_only_this_projects_leftovers(rootless_podman_runtime: PodmanRuntime) -> None:
    rt = rootless_podman_runtime
    user = _user(rt)
    build_base_image(EXAMPLE, rt)
    name = f"s4-art-{uuid.uuid4().hex[:8]}"
    root = Path(tempfile.mkdtemp(prefix="s4-art-"))
    root.chmod(0o755)
    app, other = root / "app", root / "other"
    app.mkdir()
    other.mkdir()
    (app / "step.sh").write_text("#!/bin/sh\nexit 3\n")  # fails until the user fixes it
    # Each step names this run: a layer an earlier (killed) run left would otherwise be reused from the
    # cache, and this build would leave no dangling image of its own.
    ours, theirs = f"echo s4 > /s4 # {name}", f"echo other > /other # {name}"
    (app / "Dockerfile").write_text(
        f'FROM localhost/phoenix-base:1\nRUN {ours}\nCOPY step.sh /step.sh\nRUN sh /step.sh\nCMD ["cat", "/s4"]\n'
    )
    (root / "compose.yaml").write_text(
        f"name: {name}\nservices:\n  app:\n    build: {{context: app}}\n    image: localhost/{name}-app:1\n"
    )
    # Another project on the same base image, which failed too: its leftovers are not ours to remove.
    (other / "Dockerfile").write_text(f"FROM localhost/phoenix-base:1\nRUN {theirs}\nRUN exit 4\n")
    tag = f"localhost/{name}-app:1"
    other_left: dict[str, str] = {}
    other_images: set[str] = set()
    try:
        other_left, other_images = _failing_build(rt, other, f"localhost/s4-other-{uuid.uuid4().hex[:8]}:1", theirs)
        left, dangling = _failing_build(rt, app, tag, ours)
        (app / "step.sh").write_text("#!/bin/sh\nexit 0\n")
        stack = RecoveryStack(rt, root, load_project(root), None)  # type: ignore[arg-type]

        planned = recover(stack, "failed-build", "--rootless-user", user, "--dry-run")
        assert planned.rc == 0, planned.out
        for container in left:
            assert f"podman rm -f {container}" in planned.plans
        for other_container in other_left:
            assert f"podman rm -f {other_container}" not in planned.plans
        assert set(_working_containers(rt)) >= set(left)

        got = recover(stack, "failed-build", "--rootless-user", user)
        assert got.rc == 0, got.out
        still = _working_containers(rt)
        assert not set(left) & set(still), f"this project's working containers remain: {still}"
        assert not dangling & _dangling(rt), f"this project's dangling images remain: {got.log[-2000:]}"
        assert set(other_left) <= set(still), "another project's working container was removed"
        assert other_images <= _dangling(rt), "another project's dangling image was removed"
        assert rt.cli("run", "--rm", "--network=none", tag).stdout.strip() == "s4"
        assert_nothing_to_do(stack, "failed-build", "--rootless-user", user)
    finally:
        for container in other_left:
            rt.cli("rm", "-f", container)
        for image in (tag, *sorted(other_images)):
            rt.cli("rmi", image)
        shutil.rmtree(root, ignore_errors=True)


# -- failed-startup: a hung conmon and its rootlessport outlive their container ----------------------
def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"


def test_rootless_failed_startup_ends_a_dead_containers_conmon_and_rootlessport(
    rootless_podman_runtime: PodmanRuntime,
) -> None:
    """Induced: conmon hangs (SIGSTOP), its container is killed, ``podman stop`` times out waiting for the
    exit file and marks the container Exited (-1), ``podman rm`` removes it: the conmon and its rootlessport
    stay, holding the port, and a new container of the service cannot publish it."""
    runtime = rootless_podman_runtime
    user = _user(runtime)
    port = 21641
    name, root = _web_project(runtime, "s4-hung", port)
    project = load_project(root)
    provider = provider_for(project, runtime)
    container = f"{name}_web_1"
    conmon = rootlessport = None
    try:
        provider.up()
        assert http(f"http://127.0.0.1:{port}/health").strip() == "ok"
        [ours] = port_uses(runtime, project)
        assert ours.holder.program == "rootlessport"
        rootlessport = ours.holder.pid
        assert rootlessport is not None
        conmon = int(run(["pgrep", "-u", user, "-f", f"conmon .*-n {container} "]).check().stdout.split()[0])
        main = int(runtime.cli("inspect", "--format", "{{.State.Pid}}", container).check().stdout)
        os.kill(conmon, signal.SIGSTOP)
        os.kill(main, signal.SIGKILL)
        stopped = runtime.cli("stop", "-t", "1", container)
        assert "timed out waiting for file" in stopped.stderr, stopped
        state = runtime.cli("inspect", "--format", "{{.State.Status}}", container).check().stdout.strip()
        assert state in ("exited", "stopped"), state  # Podman believes it dead
        runtime.cli("rm", container).check()  # as `podman-compose down` does: the container goes, they stay
        assert [(h.pid, h.program) for h in holders(port)] == [(rootlessport, "rootlessport")], "not induced"
        with pytest.raises(PodshiftError, match="address already in use"):
            provider.up(timeout=60)  # induced for real: the new container cannot publish the port
        stack = RecoveryStack(runtime, root, project, provider, {"web": port})  # type: ignore[arg-type]

        got = recover(stack, "failed-startup", "--rootless-user", user)
        assert got.rc == 0, got.out
        ended = next(ln for ln in got.log.splitlines() if f"ending port {port} is held by PID {rootlessport} " in ln)
        assert "(rootlessport" in ended
        assert ended.endswith(f"left by container {container}, which no longer runs"), ended
        assert f"ending PID {conmon} (conmon of container {container}, which no longer runs)" in got.log
        assert http(f"http://127.0.0.1:{port}/health").strip() == "ok"
        for pid in (conmon, rootlessport):
            for _ in range(20):
                if not _alive(pid):
                    break
                time.sleep(0.5)
            assert not _alive(pid), f"PID {pid} is still there"
        again = recover(stack, "failed-startup", "--rootless-user", user)
        assert "NOTHING TO DO" in again.out, again.out
    finally:
        for pid in (conmon, rootlessport):  # ours: started for this test's container
            if pid is not None and _alive(pid):
                os.kill(pid, signal.SIGKILL)
        provider.down()
        provider.close()
        _forget_dns(runtime, name)
        shutil.rmtree(root, ignore_errors=True)
