"""Every fix on the real host: induce the failure, --fix-issues (FIXED), the host really works, a second
run changes nothing, `podshift fixes revert` restores the original state byte for byte, and --dry-run
changes nothing.  Each test has its own journal (PODSHIFT_FIXES_JOURNAL)."""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from podshift.commands import RunAs, run
from podshift.images import HELPER_IMAGE, ensure_helper_image
from podshift.journal import Journal, JournalEntry
from podshift.runtimes import PodmanRuntime

from ..conftest import REPO
from .conftest import check, free_port, run_checks, write_compose

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="these fixes change the host: run as root (CI does)")

FIX = ("--fix-issues",)
SYSTEM = ("--fix-issues", "--allow-system-changes")


@pytest.fixture
def journal_env(shared_dir: Path) -> dict[str, str]:
    return {"PODSHIFT_FIXES_JOURNAL": str(shared_dir / "journal.json")}


def revert(env: dict[str, str]) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "podshift.cli", "fixes", "revert"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def snapshot(*paths: Path) -> dict[str, tuple[bytes, int, int] | None]:
    """Bytes, mode and owner of each path (None: absent)."""
    out: dict[str, tuple[bytes, int, int] | None] = {}
    for p in paths:
        if p.exists():
            st = p.stat()
            out[str(p)] = (p.read_bytes() if p.is_file() else b"", st.st_mode, st.st_uid)
        else:
            out[str(p)] = None
    return out


def journal_entries(env: dict[str, str]) -> list[JournalEntry]:
    return Journal(Path(env["PODSHIFT_FIXES_JOURNAL"])).entries()


def assert_cycle(
    project: Path, select: str, name: str, env: dict[str, str], args: tuple[str, ...], watched: tuple[Path, ...]
) -> dict[str, object]:
    """dry-run (no change), fix (FIXED), fix again (no change); return the FIXED check."""
    before = snapshot(*watched)
    dry = run_checks(project, select, env=env, args=(*args, "--dry-run"))
    assert check(dry, name)["outcome"] in ("failed", "warning")
    assert "[dry-run]" in check(dry, name)["message"]
    assert snapshot(*watched) == before, "--dry-run changed something"

    fixed = run_checks(project, select, env=env, args=args)
    c = check(fixed, name)
    assert c["outcome"] == "fixed", c["message"]
    assert c["journal_entry"]
    after_fix = snapshot(*watched)
    assert after_fix != before

    again = run_checks(project, select, env=env, args=args)
    assert check(again, name)["outcome"] == "passed"
    assert snapshot(*watched) == after_fix, "a second --fix-issues run changed something"
    assert len(journal_entries(env)) == 1
    return c


# -- containers.conf: OCI runtime and ulimits ----------------------------------------------
BROKEN_CONF = (
    '# the team\'s podman settings\n[engine]\nruntime = "crun"\ncgroup_manager = "cgroupfs"\n'
    'events_logger = "file"\n\n[containers]\n# copied from a bigger server\n'
    'default_ulimits = ["nofile=1048576:1048576"]\n'
)


@pytest.mark.xdist_group("podman")
def test_runtime_and_ulimit_fixes(
    project_copy: Path, conf_file: Path, journal_env: dict[str, str], podman_runtime: PodmanRuntime
) -> None:
    # The checks' smoke container runs as the rootless user; the proof below runs as root.
    ensure_helper_image(podman_runtime)
    conf_file.write_text(BROKEN_CONF)
    original = conf_file.read_bytes()
    env = {**journal_env, "CONTAINERS_CONF": str(conf_file)}
    before = run_checks(project_copy, "test_podman.py", env=env)
    assert before["verdict"] == "NOT READY"

    fixed = run_checks(project_copy, "test_podman.py", env=env, args=FIX)
    assert check(fixed, "test_default_ulimits_can_be_set")["outcome"] == "fixed"
    assert check(fixed, "test_oci_runtime_works_with_this_cgroup_layout")["outcome"] in ("fixed", "passed")
    assert fixed["verdict"] == "READY"
    text = conf_file.read_text()
    assert "# the team's podman settings" in text, "the fix lost the file's comments"
    assert 'runtime = "runc"' in text
    # The host really works: a container starts with this configuration.
    ok = subprocess.run(
        ["podman", "run", "--rm", "--pull=never", HELPER_IMAGE, "true"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr

    again = run_checks(project_copy, "test_podman.py", env=env, args=FIX)
    assert again["verdict"] == "READY"
    assert conf_file.read_text() == text

    out = revert(env)
    assert "reverted 2 fix(es)" in out
    assert conf_file.read_bytes() == original
    assert run_checks(project_copy, "test_podman.py", env=env)["verdict"] == "NOT READY"


def test_dry_run_changes_no_file(project_copy: Path, conf_file: Path, journal_env: dict[str, str]) -> None:
    conf_file.write_text(BROKEN_CONF)
    tree = {p: p.read_bytes() for p in [conf_file, *project_copy.rglob("*")] if p.is_file()}
    result = run_checks(
        project_copy, "test_podman.py", env={**journal_env, "CONTAINERS_CONF": str(conf_file)}, args=(*FIX, "--dry-run")
    )
    assert "+default_ulimits" in check(result, "test_default_ulimits_can_be_set")["message"]
    assert {p: p.read_bytes() for p in tree} == tree
    assert not Path(journal_env["PODSHIFT_FIXES_JOURNAL"]).exists()


# -- sub-uid/gid ranges -----------------------------------------------------------------------------------
@pytest.fixture
def user_losing_subids() -> Iterator[str]:
    name = f"pssub{uuid.uuid4().hex[:6]}"
    subprocess.run(["useradd", "-m", name], check=True, capture_output=True)
    uid = pwd.getpwnam(name).pw_uid
    runtime_dir = Path(f"/run/user/{uid}")
    runtime_dir.mkdir(parents=True, exist_ok=True)
    os.chown(runtime_dir, uid, uid)
    runtime_dir.chmod(0o700)
    for path, flag in ((Path("/etc/subuid"), "--del-subuids"), (Path("/etc/subgid"), "--del-subgids")):
        for line in path.read_text().splitlines():
            user, start, count = line.split(":")
            if user == name:
                subprocess.run(["usermod", flag, f"{start}-{int(start) + int(count) - 1}", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["pkill", "-u", name], check=False)
        subprocess.run(["userdel", "-r", name], check=False, capture_output=True)
        subprocess.run(["rm", "-rf", str(runtime_dir)], check=False)


# Tests that add users change /etc/subuid and /etc/subgid: one worker runs them, one after another.
@pytest.mark.xdist_group("users")
def test_subuid_fix(project_copy: Path, user_losing_subids: str, journal_env: dict[str, str]) -> None:
    user = user_losing_subids
    env = {**journal_env, "PODSHIFT_ROOTLESS_USER": user}
    watched = (Path("/etc/subuid"), Path("/etc/subgid"))
    original = snapshot(*watched)
    assert_cycle(
        project_copy,
        "test_rootless.py::test_user_has_subordinate_id_ranges",
        "test_user_has_subordinate_id_ranges",
        env,
        SYSTEM,
        watched,
    )
    # The host really works: the user's namespace now maps 65536 ids.
    mapped = run(["podman", "unshare", "cat", "/proc/self/uid_map"], run_as=RunAs(user), timeout=60)
    assert mapped.succeeded, mapped.stderr
    assert any(line.split()[-1] == "65536" for line in mapped.stdout.splitlines())
    revert(env)
    assert snapshot(*watched) == original


# -- /dev/net/tun ----------------------------------------------
@pytest.mark.xdist_group("podman-rootless")
@pytest.mark.host_exclusive
def test_tun_fix(project_copy: Path, journal_env: dict[str, str], rootless_podman_runtime: PodmanRuntime) -> None:
    user = os.environ["PODSHIFT_ROOTLESS_USER"]
    env = {**journal_env, "PODSHIFT_ROOTLESS_USER": user}
    tun, rule = Path("/dev/net/tun"), Path("/etc/udev/rules.d/60-podshift-tun.rules")
    host_mode = tun.stat().st_mode & 0o7777
    tun.chmod(0o600)
    try:
        assert_cycle(
            project_copy,
            "test_rootless.py::test_tun_device_usable_for_rootless_ports",
            "test_tun_device_usable_for_rootless_ports",
            env,
            SYSTEM,
            (tun, rule),
        )
        # The host really works: a rootless container publishes a port.
        image = ensure_helper_image(rootless_podman_runtime)
        port = free_port()
        name = f"pstest-tun-{uuid.uuid4().hex[:6]}"
        started = rootless_podman_runtime.cli(
            "run",
            "-d",
            "--name",
            name,
            "--pull=never",
            "-p",
            f"127.0.0.1:{port}:8000",
            image,
            "httpd",
            "-f",
            "-p",
            "8000",
            "-h",
            "/",
        )
        try:
            assert started.succeeded, started.stderr
            answered = run(
                [
                    "curl",
                    "-s",
                    "-o",
                    "/dev/null",
                    "-w",
                    "%{http_code}",
                    "--retry",
                    "10",
                    "--retry-connrefused",
                    "--retry-delay",
                    "1",
                    f"http://127.0.0.1:{port}/",
                ],
                timeout=60,
            )
            assert answered.stdout in ("200", "403", "404"), answered.stderr
        finally:
            rootless_podman_runtime.cli("rm", "-f", name)
        revert(env)
        assert tun.stat().st_mode & 0o7777 == 0o600
        assert not rule.exists()
    finally:
        tun.chmod(host_mode)
        rule.unlink(missing_ok=True)


# -- net.ipv4.ip_unprivileged_port_start ----------------------------------------------
def test_unprivileged_port_fix(project_copy: Path, journal_env: dict[str, str]) -> None:
    user = os.environ["PODSHIFT_ROOTLESS_USER"]
    env = {**journal_env, "PODSHIFT_ROOTLESS_USER": user, "PHOENIX_WEB_PORT": "3000"}
    key = "net.ipv4.ip_unprivileged_port_start"
    host_value = run(["sysctl", "-n", key]).stdout.strip()
    dropin = Path("/etc/sysctl.d/60-podshift-unprivileged-ports.conf")
    run(["sysctl", "-w", f"{key}=9000"]).check()
    try:
        c = assert_cycle(
            project_copy,
            "test_rootless.py::test_published_ports_are_unprivileged",
            "test_published_ports_are_unprivileged",
            env,
            SYSTEM,
            (dropin,),
        )
        assert run(["sysctl", "-n", key]).stdout.strip() == "3000"
        assert "alternative (project scope)" in str(c["fix_plan"])
        revert(env)
        assert run(["sysctl", "-n", key]).stdout.strip() == "9000"
        assert not dropin.exists()
    finally:
        run(["sysctl", "-w", f"{key}={host_value}"]).check()
        dropin.unlink(missing_ok=True)


# -- qualify images in the compose file ----------------------------------------------
def test_qualify_images_fix(project_copy: Path, shared_dir: Path, journal_env: dict[str, str]) -> None:
    registries = shared_dir / "registries.conf"
    registries.write_text("unqualified-search-registries = []\n")
    image = f"pstest-nowhere-{uuid.uuid4().hex[:6]}:1"
    write_compose(
        project_copy,
        f"""
        # our app
        services:
          app:
            image: {image}  # pinned
    """,
    )
    compose = project_copy / "compose.yaml"
    original = compose.read_bytes()
    env = {**journal_env, "CONTAINERS_REGISTRIES_CONF": str(registries)}
    assert_cycle(
        project_copy,
        "test_compose.py::test_unqualified_images_can_be_resolved",
        "test_unqualified_images_can_be_resolved",
        env,
        FIX,
        (compose,),
    )
    text = compose.read_text()
    assert f"image: docker.io/library/{image}" in text
    assert "# pinned" in text
    assert "# our app" in text
    revert(env)
    assert compose.read_bytes() == original


# -- the Podman API socket ----------------------------------------------
@pytest.mark.xdist_group("users")
def test_start_podman_socket_fix(project_copy: Path, journal_env: dict[str, str]) -> None:
    name = f"pssock{uuid.uuid4().hex[:6]}"
    subprocess.run(["useradd", "-m", name], check=True, capture_output=True)
    uid = pwd.getpwnam(name).pw_uid
    runtime_dir = Path(f"/run/user/{uid}")
    runtime_dir.mkdir(parents=True, exist_ok=True)
    os.chown(runtime_dir, uid, uid)
    env = {**journal_env, "PODSHIFT_ROOTLESS_USER": name}
    sock = runtime_dir / "podman" / "podman.sock"
    try:
        assert_cycle(
            project_copy,
            "test_podman.py::test_podman_api_socket_answers",
            "test_podman_api_socket_answers",
            env,
            FIX,
            (sock,),
        )
        runtime = PodmanRuntime.for_user(name)
        runtime.ping()  # the host really works: the user's API answers
        runtime.close()
        revert(env)
        for _ in range(50):
            if PodmanRuntime.for_user(name).probe_socket() is not None:
                break
            subprocess.run(["sleep", "0.1"], check=False)
        assert PodmanRuntime.for_user(name).probe_socket() is not None
    finally:
        subprocess.run(["pkill", "-u", name], check=False)
        subprocess.run(["userdel", "-r", name], check=False, capture_output=True)
        subprocess.run(["rm", "-rf", str(runtime_dir)], check=False)


# -- project files ----------------------------------------------
def test_backup_dir_fix(project_copy: Path, journal_env: dict[str, str]) -> None:
    backup = project_copy / ".docker-backup"
    backup.mkdir(mode=0o755)
    backup.chmod(0o755)
    assert_cycle(
        project_copy,
        "test_filesystem.py::test_backup_directory_is_usable",
        "test_backup_directory_is_usable",
        journal_env,
        FIX,
        (backup,),
    )
    assert backup.stat().st_mode & 0o777 == 0o700
    revert(journal_env)
    assert backup.stat().st_mode & 0o777 == 0o755


def test_bind_mount_fix(project_copy: Path, journal_env: dict[str, str]) -> None:
    user = os.environ["PODSHIFT_ROOTLESS_USER"]
    base = Path(tempfile.mkdtemp(prefix="podshift-bind-"))
    base.chmod(0o755)
    pw = pwd.getpwnam(user)
    os.chown(base, pw.pw_uid, pw.pw_gid)
    source = base / "data" / "deeper"
    write_compose(
        project_copy,
        f"""
        services:
          app:
            image: localhost/phoenix-base:1
            volumes:
              - type: bind
                source: {source}
                target: /data
                bind: {{create_host_path: false}}
    """,
    )
    env = {**journal_env, "PODSHIFT_ROOTLESS_USER": user}
    try:
        assert_cycle(
            project_copy,
            "test_filesystem.py::test_bind_mount_sources_exist_and_are_accessible",
            "test_bind_mount_sources_exist_and_are_accessible",
            env,
            FIX,
            (source,),
        )
        assert source.is_dir()
        assert source.stat().st_uid == pw.pw_uid, "the source must belong to the Podman user"
        revert(env)
        assert not (base / "data").exists()
    finally:
        subprocess.run(["rm", "-rf", str(base)], check=False)


# -- the whole host ----------------------------------------------
@pytest.mark.xdist_group("podman-rootless")
@pytest.mark.host_exclusive
def test_validate_fix_issues_turns_not_ready_into_ready_and_revert_turns_it_back(
    project_copy: Path, conf_file: Path, journal_env: dict[str, str]
) -> None:
    """Every problem from the host notes at once: crun on hybrid cgroups, ulimits, /dev/net/tun."""
    conf_file.write_text(BROKEN_CONF)
    conf_file.chmod(0o644)
    user = os.environ["PODSHIFT_ROOTLESS_USER"]
    data = conf_file.parent / "data"
    data.mkdir()
    pw = pwd.getpwnam(user)
    os.chown(data, pw.pw_uid, pw.pw_gid)
    env = {
        **os.environ,
        **journal_env,
        "CONTAINERS_CONF": str(conf_file),
        "PODSHIFT_ROOTLESS_USER": user,
        "PHOENIX_DATA_DIR": str(conf_file.parent / "data"),
    }
    tun = Path("/dev/net/tun")
    host_mode = tun.stat().st_mode & 0o7777
    tun.chmod(0o600)

    def validate(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "podshift.cli", "validate", "--project-dir", str(project_copy), *args],
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
            cwd=REPO,
        )

    def verdict(proc: subprocess.CompletedProcess[str]) -> str:
        return [ln for ln in proc.stdout.splitlines() if ln.startswith("podshift verdict:")][-1]

    try:
        assert "NOT READY" in verdict(validate())
        fixed = validate("--fix-issues", "--allow-system-changes")
        assert fixed.returncode == 0, fixed.stdout[-3000:]
        assert verdict(fixed).startswith("podshift verdict: READY"), verdict(fixed)
        assert "NOT READY" not in verdict(fixed)
        undone = subprocess.run(
            [sys.executable, "-m", "podshift.cli", "fixes", "revert"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert undone.returncode == 0, undone.stderr
        assert conf_file.read_text() == BROKEN_CONF
        assert tun.stat().st_mode & 0o7777 == 0o600
        assert "NOT READY" in verdict(validate())
    finally:
        tun.chmod(host_mode)
        Path("/etc/udev/rules.d/60-podshift-tun.rules").unlink(missing_ok=True)
