"""permission-issues repaired for real on a throwaway user (never the shared rootless user).

The user is made with ``useradd -m`` and loses its sub-uid/gid ranges the way
test_fixes' users do; the scenario must give them back through the existing
``subuid-ranges`` fix, apply them (``podman system migrate``), start the user's
API service, and a container must then run as that user.  ``podman fixes revert``
undoes what the fixes journal holds.  User, home and runtime dir go in teardown.
"""

from __future__ import annotations

import contextlib
import os
import pwd
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

from podshift.commands import RunAs, run
from podshift.compose import load_project, provider_for
from podshift.images import HELPER_IMAGE, ensure_helper_image
from podshift.runtimes import PodmanRuntime

from .test_recovery import RecoveryStack, assert_nothing_to_do, recover

# Tests that add users change /etc/subuid and /etc/subgid: one worker runs them, one after another.
pytestmark = [
    pytest.mark.xdist_group("users"),
    pytest.mark.skipif(os.geteuid() != 0, reason="adds a user: run as root (CI does)"),
]

SUB_FILES = (Path("/etc/subuid"), Path("/etc/subgid"))


def _lines_of(user: str) -> list[str]:
    return [ln for p in SUB_FILES for ln in p.read_text().splitlines() if ln.split(":", 1)[0] == user]


def _end_processes_of(user: str) -> None:
    """End the throwaway user's processes (its pause process, its API service), by PID."""
    found = run(["pgrep", "-u", user]).stdout.split()
    for pid in found:
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGKILL)


def _throwaway_user(*, drop_subids: bool, prefix: str = "s4-p") -> Iterator[str]:
    name = f"{prefix}{uuid.uuid4().hex[:6]}"
    subprocess.run(["useradd", "-m", name], check=True, capture_output=True)
    uid = pwd.getpwnam(name).pw_uid
    runtime_dir = Path(f"/run/user/{uid}")
    try:
        runtime_dir.mkdir(parents=True, exist_ok=True)
        os.chown(runtime_dir, uid, uid)
        runtime_dir.chmod(0o700)
        for path, flag in ((SUB_FILES[0], "--del-subuids"), (SUB_FILES[1], "--del-subgids")):
            for line in path.read_text().splitlines() if drop_subids else ():
                user, start, count = line.split(":")
                if user == name:
                    subprocess.run(["usermod", flag, f"{start}-{int(start) + int(count) - 1}", name], check=True)
        assert bool(_lines_of(name)) != drop_subids
        yield name
    finally:
        _end_processes_of(name)
        subprocess.run(["userdel", "-r", name], check=False, capture_output=True)
        shutil.rmtree(runtime_dir, ignore_errors=True)


@pytest.fixture
def user_without_subids() -> Iterator[str]:
    yield from _throwaway_user(drop_subids=True)


@pytest.fixture
def user_with_subids() -> Iterator[str]:
    yield from _throwaway_user(drop_subids=False)


def _project() -> Path:
    root = Path(tempfile.mkdtemp(prefix="s4-perm-"))
    root.chmod(0o755)
    (root / "compose.yaml").write_text(
        f"name: s4-perm-{uuid.uuid4().hex[:6]}\nservices:\n  app:\n    image: {HELPER_IMAGE}\n"
        "    pull_policy: never\n    network_mode: none\n    command: [sleep, '60']\n"
    )
    return root


def _revert(journal: dict[str, str]) -> str:
    argv = [sys.executable, "-m", "podshift.cli", "fixes", "revert"]
    env = {**os.environ, **journal}
    reverted = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert reverted.returncode == 0, reverted.stdout + reverted.stderr
    return reverted.stdout + reverted.stderr


def _runs_as(user: str) -> None:
    """A container really runs as *user*, container uid 999 mapped to one of its sub-ids."""
    ran = run(
        ["podman", "run", "--rm", "--pull=never", "--network=none", "--user", "999", HELPER_IMAGE, "id", "-u"],
        run_as=RunAs(user), cwd="/", timeout=300,
    )  # fmt: skip
    assert ran.succeeded, ran.stderr
    assert ran.stdout.strip() == "999"


def test_permission_issues_gives_a_user_without_subids_a_working_podman(user_without_subids: str) -> None:
    user = user_without_subids
    root = _project()
    journal = {"PODSHIFT_FIXES_JOURNAL": str(root / "fixes-journal.json")}
    try:
        # Induced for real: the user's namespace maps one uid (podman#12715's symptom).
        mapped = run(["podman", "unshare", "cat", "/proc/self/uid_map"], run_as=RunAs(user), cwd="/", timeout=120)
        assert mapped.succeeded, mapped.stderr
        assert len(mapped.stdout.strip().splitlines()) == 1, mapped.stdout
        stack = RecoveryStack(None, root, load_project(root), None)  # type: ignore[arg-type]

        refused = recover(stack, "permission-issues", "--rootless-user", user, env=journal)
        assert refused.rc == 1, refused.out
        assert "fix subuid-ranges not applied: it changes the system: re-run with --allow-system-changes" in refused.out
        assert not _lines_of(user), "changed /etc/subuid without --allow-system-changes"

        fixed = recover(stack, "permission-issues", "--rootless-user", user, "--allow-system-changes", env=journal)
        assert fixed.rc == 0, fixed.out
        assert fixed.check("test_sub_ids_mapped")["outcome"] == "passed"
        assert fixed.check("test_container_starts_as_the_user")["outcome"] == "passed"
        assert len(_lines_of(user)) == 2
        mapped = run(["podman", "unshare", "cat", "/proc/self/uid_map"], run_as=RunAs(user), cwd="/", timeout=120)
        assert any(line.split()[-1] == "65536" for line in mapped.stdout.splitlines()), mapped.stdout
        _runs_as(user)
        assert_nothing_to_do(stack, "permission-issues", "--rootless-user", user, "--allow-system-changes", env=journal)

        said = _revert(journal)
        assert "reverting start-podman-socket" in said
        assert "reverting subuid-ranges" in said
        assert not _lines_of(user), "the revert left the user's sub-ids"
    finally:
        shutil.rmtree(root, ignore_errors=True)


#: A containers.conf copied from a bigger server: crun (refuses cgroup v1 hybrid here), ulimits above the hard limits.
BROKEN_CONF = (
    '# the team\'s podman settings\n[engine]\nruntime = "crun"\n\n[containers]\n'
    'default_ulimits = ["nofile=1048576:1048576"]\n'
)


def test_permission_issues_repairs_a_broken_containers_conf_of_the_user(user_with_subids: str) -> None:
    user = user_with_subids
    pw = pwd.getpwnam(user)
    conf = Path(pw.pw_dir) / ".config/containers/containers.conf"
    conf.parent.mkdir(parents=True)
    conf.write_text(BROKEN_CONF)
    for p in (conf.parent.parent, conf.parent, conf):
        os.chown(p, pw.pw_uid, pw.pw_gid)
    root = _project()
    journal = {"PODSHIFT_FIXES_JOURNAL": str(root / "fixes-journal.json")}
    try:
        stack = RecoveryStack(None, root, load_project(root), None)  # type: ignore[arg-type]
        fixed = recover(stack, "permission-issues", "--rootless-user", user, env=journal)
        assert fixed.rc == 0, fixed.out
        assert "select-oci-runtime applied (fixes journal" in fixed.out + fixed.log
        assert "default-ulimits applied (fixes journal" in fixed.out + fixed.log
        assert fixed.check("test_container_starts_as_the_user")["outcome"] == "passed"
        assert 'runtime = "runc"' in conf.read_text()
        _runs_as(user)
        again = recover(stack, "permission-issues", "--rootless-user", user, env=journal)
        assert "NOTHING TO DO" in again.out, again.out
        _revert(journal)
        assert conf.read_text() == BROKEN_CONF
    finally:
        shutil.rmtree(root, ignore_errors=True)


# -- a stale rootless network namespace --------------------------------------------------------------
@pytest.fixture
def user_api(user_with_subids: str) -> Iterator[PodmanRuntime]:
    """The throwaway user's Podman API service (started here, ended by PID afterwards)."""
    yield from api_of(user_with_subids)


def api_of(user: str) -> Iterator[PodmanRuntime]:
    """Start *user*'s Podman API service, yield its runtime, end the service (by PID) afterwards."""
    as_user = RunAs(user)
    sock = Path(as_user.runtime_dir) / "podman" / "podman.sock"
    sock.parent.mkdir(mode=0o700)
    os.chown(sock.parent, as_user.uid, pwd.getpwnam(user).pw_gid)
    service = subprocess.Popen(
        as_user.wrap(["podman", "system", "service", "--time=0", f"unix://{sock}"], None),
        cwd="/", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    runtime = PodmanRuntime.for_user(user)
    try:
        for _ in range(100):
            if runtime.probe_socket() is None:
                break
            time.sleep(0.2)
        runtime.ping()
        yield runtime
    finally:
        runtime.close()
        service.terminate()
        service.wait(30)


def web_client_project(prefix: str, subnet: str | None = None) -> tuple[str, Path]:
    """(name, dir) of a two-service project on one network: ``web`` (httpd /health on 8000) and ``client``.

    *subnet* pins the default network's subnet (Compose ``ipam``) instead of Podman's pick.
    """
    root = Path(tempfile.mkdtemp(prefix=f"{prefix}-"))
    root.chmod(0o755)
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    (root / "compose.yaml").write_text(
        f"name: {name}\nservices:\n"
        f"  web:\n    image: {HELPER_IMAGE}\n    pull_policy: never\n    expose: ['8000']\n"
        "    command: [sh, -c, 'mkdir -p /www && echo ok > /www/health && exec httpd -f -p 8000 -h /www']\n"
        f"  client:\n    image: {HELPER_IMAGE}\n    pull_policy: never\n    command: [sleep, '3600']\n"
        + (f"networks:\n  default:\n    ipam:\n      config: [{{subnet: '{subnet}'}}]\n" if subnet else "")
    )
    return name, root


@contextlib.contextmanager
def web_client_stack(runtime: PodmanRuntime, prefix: str, subnet: str | None = None) -> Iterator[RecoveryStack]:
    """:func:`web_client_project` up under *runtime* (the helper image imported first); down and removed after."""
    ensure_helper_image(runtime)
    _, root = web_client_project(prefix, subnet)
    project = load_project(root)
    provider = provider_for(project, runtime)
    try:
        provider.up()
        yield RecoveryStack(runtime, root, project, provider)  # type: ignore[arg-type]
    finally:
        provider.down()
        provider.close()
        shutil.rmtree(root, ignore_errors=True)


def test_network_issues_clears_a_stale_rootless_netns(user_api: PodmanRuntime) -> None:
    runtime = user_api
    assert runtime.run_as is not None
    user = runtime.run_as.user
    with web_client_stack(runtime, "s4-netns") as stack:
        name = stack.project.name
        assert runtime.exec(f"{name}_client_1", ["wget", "-qO-", "http://web:8000/health"]).stdout.strip() == "ok"
        # Induced for real: the namespace's runtime directory goes (a tmp cleaner) while the namespace is in use.
        shutil.rmtree(Path(runtime.run_as.runtime_dir) / "libpod" / "tmp" / "rootless-netns")
        probe = run(["podman", "unshare", "--rootless-netns", "true"], run_as=runtime.run_as, cwd="/", timeout=60)
        assert "failed to mount runtime directory for rootless netns: no such file or directory" in probe.stderr
        blocked = runtime.cli("run", "--rm", "--pull=never", "--network", f"{name}_default", HELPER_IMAGE, "true")
        assert "failed to mount runtime directory for rootless netns" in blocked.stderr, blocked

        found = recover(stack, "diagnose", "--rootless-user", user)
        assert found.rc == 1, found.out
        check = found.check("test_rootless_netns_usable")
        assert check["outcome"] == "failed"
        assert "failed to mount runtime directory for rootless netns" in check["message"]
        assert "podshift recover network-issues" in check["message"]

        fixed = recover(stack, "network-issues", "--rootless-user", user)
        assert fixed.rc == 0, fixed.out
        assert fixed.check("test_rootless_netns_usable")["outcome"] == "passed"
        assert fixed.check("test_services_reach_each_other")["outcome"] == "passed"
        assert runtime.exec(f"{name}_client_1", ["wget", "-qO-", "http://web:8000/health"]).stdout.strip() == "ok"
        assert_nothing_to_do(stack, "network-issues", "--rootless-user", user)


# -- a pause process killed with the user's containers ------------------------------------------------
def test_permission_issues_resets_a_podman_whose_processes_were_killed(user_api: PodmanRuntime) -> None:
    runtime = user_api
    assert runtime.run_as is not None
    user = runtime.run_as.user
    with web_client_stack(runtime, "s4-pause") as stack:
        name = stack.project.name
        journal = {"PODSHIFT_FIXES_JOURNAL": str(stack.root / "fixes-journal.json")}
        # Induced for real: every process of the user dies at once (an OOM kill, a job runner reaping
        # them) while the stack runs; the runtime directory and Podman's database stay.
        _end_processes_of(user)
        for _ in range(50):
            if not run(["pgrep", "-u", user]).stdout.strip():
                break
            time.sleep(0.2)
        blocked = run(["podman", "info"], run_as=runtime.run_as, cwd="/", timeout=60)
        assert "invalid internal status" in blocked.stderr, blocked

        fixed = recover(stack, "permission-issues", "--rootless-user", user, env=journal)
        assert fixed.rc == 0, fixed.out
        assert "the user's Podman has a new pause process" in fixed.out + fixed.log, fixed.out + fixed.log
        assert fixed.check("test_podman_finds_its_namespaces")["outcome"] == "passed"
        assert fixed.check("test_container_starts_as_the_user")["outcome"] == "passed"
        assert run(["podman", "info"], run_as=runtime.run_as, cwd="/", timeout=60).succeeded

        # The stack's containers were killed with their conmon: failed-startup brings it back.
        started = recover(stack, "failed-startup", "--rootless-user", user, env=journal)
        assert started.rc == 0, started.out
        assert runtime.exec(f"{name}_client_1", ["wget", "-qO-", "http://web:8000/health"]).stdout.strip() == "ok"
        assert_nothing_to_do(stack, "permission-issues", "--rootless-user", user, env=journal)


def test_smoke_checks_run_for_a_user_whose_api_service_is_down(user_with_subids: str) -> None:
    """The readiness checks that run a container need the user's Podman, not its API service (a warning)."""
    user = user_with_subids
    root = _project()
    try:
        assert not Path(RunAs(user).runtime_dir, "podman", "podman.sock").exists()
        argv = [sys.executable, "-m", "podshift.cli", "validate", "--project-dir", str(root), "--rootless-user", user]
        checks = ("podman.container-runs", "podman.oci-runtime", "podman.default-ulimits", "podman.api-socket")
        for check in checks:
            argv += ["--check", check]
        env = {k: v for k, v in os.environ.items() if k != "PODSHIFT_ROOTLESS_USER"}
        proc = subprocess.run(argv, env=env, cwd=root, capture_output=True, text=True, timeout=600, check=False)
        assert "podshift verdict: READY WITH WARNINGS (1 WARN, 3 PASS," in proc.stdout, proc.stdout + proc.stderr
        lines = (root / "reports" / "migration-prerequisites-report.txt").read_text().splitlines()
        for check in checks[:3]:
            assert any(ln.startswith("PASS") and f" {check} " in ln for ln in lines), lines
        assert any(ln.startswith("WARN") and " podman.api-socket " in ln for ln in lines), lines
        assert run(["podman", "image", "exists", HELPER_IMAGE], run_as=RunAs(user), cwd="/").succeeded
    finally:
        shutil.rmtree(root, ignore_errors=True)
