"""``podshift migrate`` at its edges, on real engines: no room for the backup, a failure after Docker stopped
(with and without ``--auto-rollback``), a service mounting docker.sock, and kill -9 at every step boundary.

Names start with ``s2-``, ports come from 21700-21799 (the rollback tests, which run beside these, use
21200-21299) and subnets from 10.112.0.0/16, apart from the other
migrate tests' (``test_migrate.py``, whose helpers deploy the reference stack here too).
"""

from __future__ import annotations

import datetime as dt
import json
import os
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
from pathlib import Path
from typing import Any

import pytest

from podshift.commands import run
from podshift.compose import load_project, provider_for
from podshift.remediations.migrate import MIGRATE_STEPS
from podshift.runtimes import DockerRuntime, PodmanRuntime
from podshift.steps import StepJournal
from podshift.volumes.transfer import VolumeRef, snapshot

from .conftest import http
from .test_migrate import DockerStack, assert_migrated, clean_env, make_stack, migrate_cli, open_tun, remove_stack

__all__ = ["open_tun"]  # a fixture (rootless: /dev/net/tun opened for the test)

pytestmark = pytest.mark.xdist_group("migrate")
PORTS = range(21700, 21800)
SUBNET = "10.112"


def s2_stack(docker: DockerRuntime, **kwargs: Any) -> DockerStack:
    return make_stack(docker, prefix="s2", ports=PORTS, subnet=SUBNET, **kwargs)


def _target(target: str, request: pytest.FixtureRequest) -> tuple[PodmanRuntime, list[str]]:
    """The target Podman ("rootful" or "rootless", driven by root) and the migrate options that name it."""
    if os.geteuid() != 0:
        pytest.skip("needs root (rootful Podman, or driving the rootless user's)")
    if target == "rootful":
        rootful: PodmanRuntime = request.getfixturevalue("podman_runtime")
        return rootful, []
    runtime: PodmanRuntime = request.getfixturevalue("rootless_podman_runtime")
    if runtime.run_as is None:
        pytest.skip("needs root driving a rootless user's Podman (PODSHIFT_ROOTLESS_USER)")
    request.getfixturevalue("open_tun")  # the user's network needs /dev/net/tun
    return runtime, ["--rootless-user", runtime.run_as.user]


def last_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = [ln for ln in result.stdout.splitlines() if ln.strip()]
    assert lines, result.stderr[-2000:]
    return lines[-1]


def running(runtime: DockerRuntime | PodmanRuntime, project: str) -> set[str]:
    return {c.service or c.name for c in runtime.project_containers(project) if c.status == "running"}


# -- 1. no room for the backup ---------------------------------------------------------------------------------
@pytest.fixture
def small_tmpfs() -> Iterator[Path]:
    """A private 4 MiB tmpfs (root mounts it; it is unmounted afterwards, whatever happened)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    where = Path(tempfile.mkdtemp(prefix="s2-tmpfs-"))
    run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0755", "s2-tmpfs", str(where)]).check()
    try:
        yield where
    finally:
        run(["umount", "-l", str(where)])
        where.rmdir()


def test_no_space_for_the_backup_stops_before_anything(
    docker_runtime: DockerRuntime, podman_runtime: PodmanRuntime, small_tmpfs: Path, tmp_path: Path
) -> None:
    """The project dir on a 4 MiB filesystem, 20 MiB of volume data: the backup step refuses, naming the bytes.

    The readiness check for backup space is waived (as an operator may), so the
    backup step's own pre-check is what stops the run.
    """
    s = s2_stack(docker_runtime, big_mib=20, stack_parent=small_tmpfs)
    try:
        expires = (dt.date.today() + dt.timedelta(days=30)).isoformat()
        (s.dir / "podshift-waivers.yaml").write_text(
            f"waivers:\n  - id: system.backup-space\n    justification: s2 test of the backup step's own check\n"
            f"    expires: {expires}\n    who: s2@test\n"
        )
        before = running(docker_runtime, s.name)
        assert before == {"api", "web", "gateway", "worker"}
        result = migrate_cli(s.dir, cwd=tmp_path)
        assert result.returncode == 1, result.stdout[-3000:]
        line = last_line(result)
        assert "FAILED at step backup" in line, line
        assert "no space for the backup" in line
        journal = StepJournal.open(s.dir, "migrate")
        space = journal.data("backup")["space"]
        assert f"needs {space['needed']} bytes" in line
        assert f"has {space['free']} bytes free" in line
        assert space["needed"] > space["free"] > 0
        assert "Traceback" not in result.stdout + result.stderr
        # Where it stopped, in the journal; nothing after it started.
        assert journal.state("prerequisites") == "done"
        assert journal.state("backup") == "failed"
        assert all(journal.state(step.name) == "pending" for step in MIGRATE_STEPS[2:])
        # Nothing stopped, nothing made: Docker serves, no Podman object, no (partial) backup.
        assert running(docker_runtime, s.name) == before
        http(s.url("api", "/health"))
        assert not podman_runtime.project_containers(s.name)
        assert not [v for v in s.project.named_volumes if podman_runtime.volume(v) is not None]
        assert not [p.name for p in s.dir.iterdir() if p.name.startswith(".docker-backup")]

        # The same backup written anyway (`podshift backup` has no pre-check): ENOSPC mid-write is one clear
        # line, the partial backup is removed and the services it stopped to read their volumes run again.
        argv = [
            sys.executable,
            "-m",
            "podshift.cli",
            "backup",
            "--include-data",
            "--force",
            "--project-dir",
            str(s.dir),
        ]
        full = subprocess.run(argv, cwd=tmp_path, env=clean_env(), capture_output=True, text=True, timeout=600)
        assert full.returncode == 1, full.stdout[-2000:] + full.stderr[-2000:]
        assert "disk full while writing the backup" in full.stdout + full.stderr
        assert "Traceback" not in full.stdout + full.stderr
        assert not [p.name for p in s.dir.iterdir() if p.name.startswith(".docker-backup")]
        assert running(docker_runtime, s.name) == before
    finally:
        remove_stack(s, podman_runtime)


# -- 2. a failure after Docker stopped: the rollback hint, then --auto-rollback ---------------------------------
EXPLODING = """
import pytest
from podshift.steps import Step

class Explode(Step):
    name = "s2-explode"
    title = "A third party's step that fails once Docker is stopped"
    action = "migrate"
    after = ("compose-rewrite", "bind-owners")
    before = ("start-podman",)

    def run(self, ctx):
        raise RuntimeError("s2: the load balancer refused the switch")

@pytest.hookimpl
def pytest_podshift_steps(config, action, scenario):
    return [Explode()] if action == "migrate" else []
"""


@pytest.mark.parametrize("target", ["rootful", "rootless"])
def test_failure_after_stop_hint_then_auto_rollback(
    docker_runtime: DockerRuntime, target: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """A third party's step fails after Docker stopped: the hint names `podshift rollback`; with --auto-rollback
    the rollback runs on its own and Docker serves the records again."""
    podman_runtime, options = _target(target, request)
    s = s2_stack(docker_runtime)
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "s2_exploding.py").write_text(textwrap.dedent(EXPLODING))
    env = {**clean_env(), "PYTHONPATH": str(plugins), "PYTEST_PLUGINS": "s2_exploding"}
    compose_before = (s.dir / "docker-compose.yml").read_bytes()
    work = tmp_path / "work"
    work.mkdir()

    def migrate(*args: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "podshift.cli", "migrate", "--project-dir", str(s.dir), *options, *args]
        return subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True, timeout=900, check=False)

    try:
        # Without --auto-rollback: the last line names the step and `podshift rollback`.
        plain = migrate()
        assert plain.returncode == 1, plain.stdout[-3000:]
        line = last_line(plain)
        assert "FAILED at step s2-explode" in line, line
        assert f"podshift rollback --project-dir {s.dir}{''.join(' ' + o for o in options)}`" in line
        assert not running(docker_runtime, s.name)  # Docker was stopped: the failure came after it
        assert StepJournal.open(s.dir, "migrate").state("stop-docker") == "done"

        # The same command with --auto-rollback: it resumes, fails at the same step, and rolls back on its own.
        auto = migrate("--auto-rollback")
        assert auto.returncode == 1, auto.stdout[-3000:]
        line = last_line(auto)
        assert "FAILED at step s2-explode" in line, auto.stdout[-3000:]
        assert "--auto-rollback: the rollback ran and succeeded" in line, auto.stdout[-4000:]
        assert "podshift rollback: DONE" in auto.stdout
        assert (work / "reports" / "rollback.log").is_file()
        # Served by Docker again, with the records written before the migration; Podman runs nothing of it.
        assert running(docker_runtime, s.name) == {"api", "web", "gateway", "worker"}
        for service in ("api", "web", "gateway", "worker"):
            http(s.url(service, "/health"))
        served = http(s.url("api", "/cgi-bin/records"))
        assert all(r in served for r in s.records), served
        assert not running(podman_runtime, s.name)
        assert (s.dir / "docker-compose.yml").read_bytes() == compose_before
    finally:
        remove_stack(s, podman_runtime)


def test_auto_rollback_not_run_when_docker_was_never_stopped(docker_runtime: DockerRuntime, tmp_path: Path) -> None:
    """A failure before the stop: Docker still serves, so --auto-rollback says there is nothing to roll back."""
    root = Path(tempfile.mkdtemp(prefix="s2-bad-"))
    try:
        from ..conftest import EXAMPLE

        shutil.copytree(EXAMPLE, root / "stack")
        compose = root / "stack" / "docker-compose.yml"
        compose.write_text(compose.read_text().replace("name: phoenix-hydra", f"name: s2-{uuid.uuid4().hex[:8]}"))
        result = migrate_cli(root / "stack", "--auto-rollback", cwd=tmp_path)  # never deployed: prerequisites fail
        assert result.returncode == 1
        line = last_line(result)
        assert "FAILED at step prerequisites" in line, line
        assert "nothing to roll back" in line
        assert "rolling back" not in result.stdout
    finally:
        shutil.rmtree(root, ignore_errors=True)


# -- 4. a service mounting docker.sock gets the Podman socket ---------------------------------------------------
SOCK_COMPOSE = """\
name: {name}
services:
  agent:
    image: localhost/{name}:1
    pull_policy: never
    command: ["sleep", "3600"]
    volumes:
      - /var/run/docker.sock:/var/run/docker.sock
      - state:/state
      - ./data:/data
volumes:
  state: {{}}
"""


def _busybox_image(engine: str, ref: str) -> None:
    """*ref* in *engine*: a root filesystem of the host's busybox-static, imported (no registry)."""
    busybox = shutil.which("busybox")
    assert busybox, "busybox-static is provisioned on these hosts"
    with tempfile.TemporaryDirectory(prefix="s2-rootfs-") as tmp:
        root = Path(tmp)
        (root / "bin").mkdir()
        shutil.copy2(busybox, root / "bin" / "busybox")
        for applet in ("sh", "sleep", "cat", "ls"):
            (root / "bin" / applet).symlink_to("busybox")
        (root / "tmp").mkdir(mode=0o1777)
        tar = subprocess.run(["tar", "-C", tmp, "-cf", "-", "."], capture_output=True, check=True)
        subprocess.run([engine, "import", "-", ref], input=tar.stdout, capture_output=True, check=True, timeout=120)


def _socket_answers(pid: int) -> dict[str, Any]:
    """GET /version on the socket the container sees at /var/run/docker.sock (through its root: /proc/PID/root)."""
    with socket.socket(socket.AF_UNIX) as c:
        c.settimeout(20)
        c.connect(f"/proc/{pid}/root/var/run/docker.sock")
        c.sendall(b"GET /version HTTP/1.0\r\nHost: localhost\r\n\r\n")
        raw = b""
        while chunk := c.recv(65536):
            raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b" 200 " in head.split(b"\r\n")[0], head
    doc: dict[str, Any] = json.loads(body)
    return doc


def _pid(engine: list[str], container: str) -> int:
    out = subprocess.run(
        [*engine, "inspect", "-f", "{{.State.Pid}}", container], capture_output=True, text=True, check=True
    )
    return int(out.stdout.strip())


@pytest.mark.parametrize("target", ["rootful", "rootless"])
def test_docker_sock_mount_gets_the_podman_socket(
    docker_runtime: DockerRuntime, target: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Migrated, the service's /var/run/docker.sock answers as Podman's API; the rollback puts the file back."""
    podman_runtime, options = _target(target, request)
    if podman_runtime.run_as is None:
        socket_path, podman_cli = "/run/podman/podman.sock", ["podman"]
    else:
        socket_path = f"/run/user/{podman_runtime.run_as.uid}/podman/podman.sock"
        podman_cli = podman_runtime.run_as.wrap(["podman"])
    name = f"s2-sock-{uuid.uuid4().hex[:8]}"
    root = Path(tempfile.mkdtemp(prefix="s2-sock-"))
    root.chmod(0o755)  # the rootless user reads the project
    stack = root / "stack"
    (stack / "data").mkdir(parents=True)
    (stack / "data" / "note").write_text("bind data\n")
    compose = stack / "docker-compose.yml"
    compose.write_text(SOCK_COMPOSE.format(name=name))
    original = compose.read_bytes()
    project = load_project(stack)
    work = tmp_path / "work"
    work.mkdir()
    try:
        _busybox_image("docker", f"localhost/{name}:1")
        provider = provider_for(project, docker_runtime)
        try:
            provider.up()
        finally:
            provider.close()
        (docker_container,) = docker_runtime.project_containers(name)
        names = [c["Name"] for c in _socket_answers(_pid(["docker"], docker_container.name)).get("Components", [])]
        assert "Podman Engine" not in names, names  # under Docker it is Docker's socket (the test can fail)

        result = migrate_cli(stack, *options, cwd=work)
        assert result.returncode == 0, result.stdout[-4000:]
        assert "podshift migrate: DONE" in result.stdout
        rewritten = compose.read_text()
        assert f"- {socket_path}:/var/run/docker.sock\n" in rewritten
        # SELinux is absent here: the bind mounts get no label (the recorded getenforce says so).
        assert "- ./data:/data\n" in rewritten
        assert ":Z" not in rewritten and ":z" not in rewritten  # noqa: PT018 - either label would be wrong
        journal = StepJournal.open(stack, "migrate")
        assert journal.data("compose-rewrite")["getenforce"] in (None, "Disabled\n")
        assert "podman.sock" in next(iter(journal.data("compose-rewrite")["files"].values()))["diff"]

        (podman_container,) = [c for c in podman_runtime.project_containers(name) if c.status == "running"]
        version = _socket_answers(_pid(podman_cli, podman_container.name))
        assert "Podman Engine" in [c["Name"] for c in version.get("Components", [])], version

        back = subprocess.run(
            [sys.executable, "-m", "podshift.cli", "rollback", "--force", "--project-dir", str(stack), *options],
            cwd=work,
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        assert back.returncode == 0, back.stdout[-4000:]
        assert compose.read_bytes() == original  # the rollback put the operator's compose file back
        assert running(docker_runtime, name) == {"agent"}
    finally:  # both engines' containers, volumes and the image, then the directory
        remove_stack(DockerStack(root, stack, name, {}, project, docker_runtime, []), podman_runtime)


# -- 5. kill -9 at every step boundary --------------------------------------------------------------------------
BOUNDARIES = [step.name for step in MIGRATE_STEPS[:-1]]

#: Loaded into the migration's session: after the step S2_PAUSE_AFTER ran (and was journaled), it says so in a
#: file and waits, so that the kill lands exactly between that step and the next.
PAUSE = """
import os, pathlib, time
import pytest

@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    result = yield
    step = getattr(item, "step", None)
    if step is not None and step.name == os.environ.get("S2_PAUSE_AFTER"):
        pathlib.Path(os.environ["S2_PAUSE_MARKER"]).write_text(step.name)
        time.sleep(600)
    return result
"""


def _kill_at_boundary(
    project: Path, work: Path, plugins: Path, boundary: str, options: list[str], timeout: float = 600
) -> None:
    """Run the migration, SIGKILL its whole process group once step *boundary* is done and the next not begun."""
    marker = work / f"paused-{boundary}"
    env = {
        **clean_env(),
        "PYTHONPATH": str(plugins),
        "PYTEST_PLUGINS": "s2_pause",
        "S2_PAUSE_AFTER": boundary,
        "S2_PAUSE_MARKER": str(marker),
    }
    argv = [sys.executable, "-m", "podshift.cli", "migrate", "--project-dir", str(project), *options]
    proc = subprocess.Popen(
        argv, cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        deadline = time.monotonic() + timeout
        while not marker.exists():
            if proc.poll() is not None:
                states = {n: e["state"] for n, e in StepJournal.open(project, "migrate").steps().items()}
                raise AssertionError(f"the migration ended (rc {proc.returncode}) before {boundary}: {states}")
            assert time.monotonic() < deadline, f"{boundary} never finished"
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@pytest.mark.parametrize("target", ["rootful", "rootless"])
def test_kill_9_at_every_step_boundary_converges(
    docker_runtime: DockerRuntime, target: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """One stack, one migration killed between each pair of steps in turn (each run resuming the last), then run
    to the end: the same end state as an uninterrupted migration, nothing made twice.
    """
    podman_runtime, options = _target(target, request)
    s = s2_stack(docker_runtime)
    work = tmp_path / "work"
    work.mkdir()
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "s2_pause.py").write_text(textwrap.dedent(PAUSE))
    try:
        digest = snapshot(VolumeRef(s.docker, s.volume)).digest()
        for i, boundary in enumerate(BOUNDARIES):
            _kill_at_boundary(s.dir, work, plugins, boundary, options)
            journal = StepJournal.open(s.dir, "migrate")
            assert [journal.state(b) for b in BOUNDARIES[: i + 1]] == ["done"] * (i + 1), boundary
            assert journal.state(MIGRATE_STEPS[i + 1].name) == "pending", boundary  # killed before the next began
            assert not journal.finished()
            # Never a second copy: at most one Podman volume per declared one, one backup directory.
            made = sorted(v.name for v in podman_runtime.project_volumes(s.name))
            assert len(made) == len(set(made)) and set(made) <= set(s.project.named_volumes), made  # noqa: PT018
            backups = [p.name for p in s.dir.iterdir() if p.name.startswith(".docker-backup")]
            assert backups == ([] if boundary == "prerequisites" else [".docker-backup"]), (boundary, backups)
        result = migrate_cli(s.dir, *options, cwd=work)
        assert result.returncode == 0, result.stdout[-4000:]
        journal = StepJournal.open(s.dir, "migrate")
        assert journal.finished()
        assert_migrated(s, podman_runtime, digest)
        assert sorted(v.name for v in podman_runtime.project_volumes(s.name)) == sorted(s.project.named_volumes)
        assert sorted(c.service or "" for c in podman_runtime.project_containers(s.name)) == sorted(s.project.services)
        assert [p.name for p in s.dir.iterdir() if p.name.startswith(".docker-backup")] == [".docker-backup"]
        again = migrate_cli(s.dir, *options, cwd=work)
        assert again.returncode == 0 and "NOTHING TO DO" in again.stdout, again.stdout[-2000:]  # noqa: PT018
    finally:
        remove_stack(s, podman_runtime)
