"""The seed guide's scripts (scripts/*.sh, .ps1): every usage line of "Phoenix Hydra Rollback Mechanism".

``GUIDE`` below has one row per usage line of the guide, in its order, with the section it comes from.
Identical lines (the guide repeats some) run once: ``COMMANDS`` maps each distinct command to what it must
do, and a test checks that the table and the expectations cover each other.  Each command runs the real
script from the project directory (as the guide shows) against a copy of the reference stack deployed on
the host's Docker, with prefix ``i14-``, ports 21400-21403 and a subnet in 10.14.0.0/16.

Rows whose podshift verb does not exist on this branch yet (``rollback``, ``recover``, ``diagnose``,
``migrate``) are real tests: they fail until that verb lands (the lead merges those branches before CI).
"""

from __future__ import annotations

import filecmp
import os
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from podshift.compose import ComposeProject, load_project, provider_for
from podshift.compose.model import find_compose_files
from podshift.drill import free_subnets, used_subnets
from podshift.runtimes import DockerRuntime, PodmanRuntime

from ..conftest import EXAMPLE, REPO
from .conftest import build_base_image, http

pytestmark = pytest.mark.xdist_group("docker")

SCRIPTS = REPO / "scripts"
PORTS = {"api": 21400, "web": 21401, "gateway": 21402, "worker": 21403}

# (guide section, script, arguments): one row per usage line of the guide, in its order.
GUIDE: list[tuple[str, str, tuple[str, ...]]] = [
    ("Backup System", "backup-docker-config.sh", ()),
    ("Backup System", "backup-docker-config.sh", ("--include-data",)),
    ("Backup System", "backup-docker-config.sh", ("--force",)),
    ("Backup System", "backup-docker-config.sh", ("--verify-only",)),
    ("Validation System", "validate-migration-prerequisites.sh", ()),
    ("Validation System", "validate-migration-prerequisites.sh", ("--fix-issues",)),
    ("Validation System", "validate-migration-prerequisites.sh", ("--export-report",)),
    ("Validation System", "validate-migration-prerequisites.sh", ("--verify-only",)),
    ("Recovery System", "migration-recovery.sh", ("failed-build",)),
    ("Recovery System", "migration-recovery.sh", ("failed-startup",)),
    ("Recovery System", "migration-recovery.sh", ("network-issues",)),
    ("Recovery System", "migration-recovery.sh", ("volume-issues",)),
    ("Recovery System", "migration-recovery.sh", ("permission-issues",)),
    ("Recovery System", "migration-recovery.sh", ("diagnose",)),
    ("Rollback System", "rollback-to-docker.sh", ()),
    ("Rollback System", "rollback-to-docker.sh", ("--force",)),
    ("Rollback System", "rollback-to-docker.sh", ("--keep-data",)),
    ("Rollback System", "rollback-to-docker.sh", ("--verify-only",)),
    ("PowerShell Version", "rollback-to-docker.ps1", ()),
    ("PowerShell Version", "rollback-to-docker.ps1", ("-Force", "-KeepData")),
    ("Scenario 1: Container Build Failures", "migration-recovery.sh", ("diagnose",)),
    ("Scenario 1: Container Build Failures", "migration-recovery.sh", ("failed-build",)),
    ("Scenario 1: Container Build Failures", "rollback-to-docker.sh", ("--keep-data",)),
    ("Scenario 2: Service Startup Failures", "migration-recovery.sh", ("failed-startup",)),
    ("Scenario 2: Service Startup Failures", "rollback-to-docker.sh", ()),
    ("Scenario 3: Network Connectivity Issues", "migration-recovery.sh", ("network-issues",)),
    ("Scenario 4: Volume Mounting Problems", "migration-recovery.sh", ("volume-issues",)),
    ("Scenario 5: Permission and Security Issues", "migration-recovery.sh", ("permission-issues",)),
    ("Scenario 6: Complete Migration Failure", "rollback-to-docker.sh", ("--force", "--keep-data")),
    ("Best Practices: Before Migration", "backup-docker-config.sh", ("--include-data",)),
    ("Best Practices: Before Migration", "validate-migration-prerequisites.sh", ("--export-report",)),
    ("Best Practices: After Migration Issues", "migration-recovery.sh", ("diagnose",)),
    ("Troubleshooting: Prerequisites not met", "validate-migration-prerequisites.sh", ("--detailed",)),
    ("Troubleshooting: Prerequisites not met", "validate-migration-prerequisites.sh", ("--fix-issues",)),
    ("Troubleshooting: Backup directory not found", "backup-docker-config.sh", ()),
    ("Troubleshooting: Backup directory not found", "rollback-to-docker.sh", ()),
    ("Testing: Backup and Restore", "backup-docker-config.sh", ("--include-data",)),
    ("Testing: Backup and Restore", "rollback-to-docker.sh", ("--force",)),
    ("Testing: Prerequisites Validation", "validate-migration-prerequisites.sh", ()),
    ("Testing: Prerequisites Validation", "validate-migration-prerequisites.sh", ("--fix-issues",)),
    ("Testing: Recovery Scenarios", "migration-recovery.sh", ("diagnose",)),
    ("Testing: Recovery Scenarios", "migration-recovery.sh", ("failed-build",)),
    ("Testing: Recovery Scenarios", "migration-recovery.sh", ("network-issues",)),
]

VERDICT = re.compile(r"^podshift verdict: (READY WITH WARNINGS|READY|NOT READY)\b", re.M)


# -- the project the scripts act on -------------------------------------------------------------------
@dataclass
class SeedProject:
    """A deployed copy of phoenix-hydra on the host's Docker; the scripts run in ``path``."""

    root: Path
    path: Path
    name: str
    env: dict[str, str]
    docker: DockerRuntime

    def run(
        self, script: str, *args: str, env: dict[str, str] | None = None, timeout: float = 900
    ) -> subprocess.CompletedProcess[str]:
        """``./scripts/SCRIPT ARGS`` as the guide runs it: from the project directory, no terminal."""
        return subprocess.run(
            [str(SCRIPTS / script), *args],
            cwd=self.path,
            env=env or self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def objects(self) -> tuple[list[str], list[str], list[str]]:
        """The project's Docker containers (name, state), volumes and networks."""
        return (
            sorted(f"{c.name}:{c.status}" for c in self.docker.project_containers(self.name)),
            sorted(v.name for v in self.docker.project_volumes(self.name)),
            sorted(n.name for n in self.docker.project_networks(self.name)),
        )

    def compose_file(self) -> Path:
        return find_compose_files(self.path)[0]

    def answers(self) -> None:
        for service, port in PORTS.items():
            assert http(f"http://127.0.0.1:{port}/health", attempts=40), service

    def reset(self) -> None:
        """Forget what an earlier command left: the backup, step journals, reports."""
        for name in (".docker-backup", ".podshift", "reports"):
            shutil.rmtree(self.path / name, ignore_errors=True)


def _model(path: Path, name: str, env: dict[str, str]) -> ComposeProject:
    return load_project(path, project_name=name, env=env)


@pytest.fixture(scope="module")
def seed_project() -> Iterator[SeedProject]:
    """phoenix-hydra copied, deployed on Docker with ``i14-`` names; removed with its volumes afterwards."""
    root = Path(tempfile.mkdtemp(prefix="i14-seed-"))
    root.chmod(0o755)
    path = root / "phoenix-hydra"
    shutil.copytree(EXAMPLE, path)
    (root / "data").mkdir()
    name = f"i14-seed-{uuid.uuid4().hex[:6]}"
    docker = DockerRuntime()
    env = {
        **os.environ,
        "COMPOSE_PROJECT_NAME": name,
        "PHOENIX_DATA_DIR": str(root / "data"),
        "PHOENIX_SUBNET": free_subnets(1, "10.14.64.0/18", used_subnets([docker]))[0],
        **{f"PHOENIX_{s.upper()}_PORT": str(p) for s, p in PORTS.items()},
    }
    project = _model(path, name, env)
    build_base_image(path, docker)
    provider = provider_for(project, docker)
    try:
        provider.up()
        http(f"http://127.0.0.1:{PORTS['api']}/cgi-bin/records", data=b"i14 seed record")
        yield SeedProject(root, path, name, env, docker)
    finally:
        provider.down(volumes=True)
        provider.close()
        docker.close()
        remove_podman_side(name)
        shutil.rmtree(root, ignore_errors=True)


def remove_podman_side(project: str) -> None:
    """What a migrate row left on Podman (a rollback without --cleanup keeps the Podman volumes): rootful, and
    PODSHIFT_ROOTLESS_USER's, whom the seed's scripts migrate to when it is set."""
    user = os.environ.get("PODSHIFT_ROOTLESS_USER")
    for podman in (PodmanRuntime.rootful(), *([PodmanRuntime.for_user(user)] if user else [])):
        try:
            ids = [c.id for c in podman.project_containers(project)]
            if ids:  # --depend: podman-compose links the services (--requires), and Podman refuses any order
                podman.cli("rm", "-f", "--depend", *ids).check()
            for v in podman.project_volumes(project):
                podman.volume_remove(v.name, force=True)
            for n in podman.project_networks(project):
                podman.client.networks.get(n.id).remove()
        finally:
            podman.close()


@pytest.fixture
def project(seed_project: SeedProject) -> SeedProject:
    seed_project.reset()
    return seed_project


def podshift_exe() -> str:
    """The podshift of this test run: $PODSHIFT, on PATH (tox, an active venv), or the checkout's .venv."""
    return os.environ.get("PODSHIFT") or shutil.which("podshift") or str(REPO / ".venv" / "bin" / "podshift")


def verb_exists(verb: str) -> bool:
    """Whether this checkout's podshift has *verb* (``podshift VERB --help`` exits 0)."""
    return subprocess.run([podshift_exe(), verb, "--help"], capture_output=True, check=False).returncode == 0


def report_file(project: SeedProject, name: str, since: float) -> Path:
    """*name* in ``reports/`` of the project directory (the current directory) or of the checkout."""
    for where in (project.path / "reports", project.path, REPO / "reports"):
        candidate = where / name
        if candidate.is_file() and candidate.stat().st_mtime >= since - 1:
            return candidate
    raise AssertionError(f"{name} was not written in {project.path}/reports, {project.path} or {REPO}/reports")


def no_traceback(proc: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr[-3000:]


# -- what each distinct command must do ---------------------------------------------------------------
Expectation = Callable[[SeedProject], None]


def _backup_basic(p: SeedProject) -> None:
    proc = p.run("backup-docker-config.sh")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    manifest = p.path / ".docker-backup" / "backup-manifest.txt"
    assert manifest.is_file()
    assert p.compose_file().name in manifest.read_text()
    assert (p.path / ".docker-backup").stat().st_mode & 0o777 == 0o700


def _backup_include_data(p: SeedProject) -> None:
    proc = p.run("backup-docker-config.sh", "--include-data")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (p.path / ".docker-backup" / "backup-manifest.txt").is_file()
    archives = list((p.path / ".docker-backup" / "volumes").iterdir())
    assert len(archives) == 2, archives  # api-data and worker-state


def _backup_force(p: SeedProject) -> None:
    assert p.run("backup-docker-config.sh").returncode == 0
    again = p.run("backup-docker-config.sh")
    assert again.returncode == 1, "a second backup without --force must refuse"
    proc = p.run("backup-docker-config.sh", "--force")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (p.path / ".docker-backup" / "backup-manifest.txt").is_file()


def _backup_verify_only(p: SeedProject) -> None:
    proc = p.run("backup-docker-config.sh", "--verify-only")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "nothing was written" in proc.stdout
    assert p.compose_file().name in proc.stdout
    assert not (p.path / ".docker-backup").exists()


def _validate(*args: str) -> Expectation:
    def expect(p: SeedProject) -> None:
        start = time.time()
        proc = p.run("validate-migration-prerequisites.sh", *args)
        no_traceback(proc)
        verdicts = VERDICT.findall(proc.stdout)
        assert verdicts, proc.stdout[-3000:] + proc.stderr[-2000:]
        assert proc.returncode == (1 if verdicts[-1] == "NOT READY" else 0), (verdicts, proc.returncode)
        if "--export-report" in args:
            text = report_file(p, "migration-prerequisites-report.txt", start).read_text()
            assert verdicts[-1] in text
        if "--detailed" in args:  # evidence of passed checks too
            assert "PASS" in proc.stdout
        if "--fix-issues" in args:  # what it applied is journaled for this project, and only that
            listed = subprocess.run(
                [podshift_exe(), "fixes", "list", "--project-dir", str(p.path)],
                capture_output=True, text=True, check=False, timeout=60,
            )  # fmt: skip
            assert listed.returncode == 0, listed.stderr
            if "FIXED" not in proc.stdout:
                assert "no fixes recorded" in listed.stdout, listed.stdout

    return expect


def _validate_verify_only(p: SeedProject) -> None:
    proc = p.run("validate-migration-prerequisites.sh", "--verify-only")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"\d+ tests? collected", proc.stdout)
    assert not VERDICT.search(proc.stdout), "--verify-only runs no check"


def _recover(scenario: str) -> Expectation:
    def expect(p: SeedProject) -> None:
        before = p.objects()
        start = time.time()
        proc = p.run("migration-recovery.sh", scenario)
        no_traceback(proc)
        if scenario == "diagnose":
            assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
            assert p.name in proc.stdout or "docker" in proc.stdout.lower()
        else:
            # A recovery either repairs (0) or says in one line it cannot, leaving the stack no worse (1).
            assert proc.returncode in (0, 1), proc.stdout[-3000:] + proc.stderr[-2000:]
        report_file(p, "migration-recovery.log", start)
        after = p.objects()
        if scenario == "diagnose":
            assert after == before, "diagnose must change nothing"
        p.answers()

    return expect


def _refused_without_terminal(p: SeedProject, *args: str) -> None:
    compose = p.compose_file()
    original = compose.read_bytes()
    before = p.objects()
    proc = p.run("rollback-to-docker.sh", *args)
    no_traceback(proc)
    assert proc.returncode in (1, 2), "no terminal and no --force: the rollback must refuse"
    assert "--force" in proc.stdout + proc.stderr
    assert compose.read_bytes() == original
    assert p.objects() == before


def _rollback_refused_without_terminal(*args: str) -> Expectation:
    def expect(p: SeedProject) -> None:
        assert p.run("backup-docker-config.sh", "--include-data").returncode == 0
        _refused_without_terminal(p, *args)

    return expect


def _rollback_backup_missing(p: SeedProject) -> None:
    """Troubleshooting, "Backup directory not found": the seed's message; with a backup, the interactive
    rollback (no terminal here) refuses and changes nothing."""
    proc = p.run("rollback-to-docker.sh", "--force")
    assert proc.returncode == 1
    assert "Backup directory not found" in proc.stdout + proc.stderr
    assert p.run("backup-docker-config.sh").returncode == 0
    _refused_without_terminal(p)


def _rollback_force(p: SeedProject) -> None:
    """Testing, "Backup and Restore": backup with data, move the compose file away, rollback --force, diff."""
    assert p.run("backup-docker-config.sh", "--include-data").returncode == 0
    compose = p.compose_file()
    moved = compose.with_name(compose.name + ".bak")
    compose.rename(moved)
    try:
        proc = p.run("rollback-to-docker.sh", "--force")
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
        assert compose.is_file(), "the rollback did not restore the compose file"
        assert filecmp.cmp(moved, compose, shallow=False), "diff compose file.bak compose file: not identical"
        p.answers()
    finally:
        if not compose.exists():
            moved.rename(compose)
        moved.unlink(missing_ok=True)


def _rollback_verify_only(p: SeedProject) -> None:
    assert p.run("backup-docker-config.sh", "--include-data").returncode == 0
    before = p.objects()
    original = p.compose_file().read_bytes()
    proc = p.run("rollback-to-docker.sh", "--verify-only")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert p.objects() == before
    assert p.compose_file().read_bytes() == original


def _rollback_force_keep_data(p: SeedProject) -> None:
    """Scenario 6: migrate, write under Podman, then the complete rollback keeps what was written."""
    assert p.run("backup-docker-config.sh", "--include-data").returncode == 0
    assert verb_exists("migrate"), "scenario 6 migrates first: `podshift migrate` does not exist here"
    migrated = subprocess.run(
        [podshift_exe(), "migrate", "--project-dir", str(p.path)],
        cwd=p.path,
        env=p.env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert migrated.returncode == 0, migrated.stdout[-3000:] + migrated.stderr[-2000:]
    http(f"http://127.0.0.1:{PORTS['api']}/cgi-bin/records", data=b"i14 written under podman", attempts=40)
    proc = p.run("rollback-to-docker.sh", "--force", "--keep-data")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    p.answers()
    records = http(f"http://127.0.0.1:{PORTS['api']}/cgi-bin/records")
    assert "i14 seed record" in records
    assert "i14 written under podman" in records


# The verb each script's command needs (rows of verbs not yet on main fail until they land).
NEEDS = {
    "backup-docker-config.sh": "backup",
    "validate-migration-prerequisites.sh": "validate",
    "rollback-to-docker.sh": "rollback",
}

COMMANDS: dict[tuple[str, tuple[str, ...]], Expectation] = {
    ("backup-docker-config.sh", ()): _backup_basic,
    ("backup-docker-config.sh", ("--include-data",)): _backup_include_data,
    ("backup-docker-config.sh", ("--force",)): _backup_force,
    ("backup-docker-config.sh", ("--verify-only",)): _backup_verify_only,
    ("validate-migration-prerequisites.sh", ()): _validate(),
    ("validate-migration-prerequisites.sh", ("--fix-issues",)): _validate("--fix-issues"),
    ("validate-migration-prerequisites.sh", ("--export-report",)): _validate("--export-report"),
    ("validate-migration-prerequisites.sh", ("--verify-only",)): _validate_verify_only,
    ("validate-migration-prerequisites.sh", ("--detailed",)): _validate("--detailed"),
    **{("migration-recovery.sh", (s,)): _recover(s) for s in (
        "failed-build", "failed-startup", "network-issues", "volume-issues", "permission-issues", "diagnose"
    )},
    ("rollback-to-docker.sh", ()): _rollback_backup_missing,
    ("rollback-to-docker.sh", ("--force",)): _rollback_force,
    ("rollback-to-docker.sh", ("--keep-data",)): _rollback_refused_without_terminal("--keep-data"),
    ("rollback-to-docker.sh", ("--verify-only",)): _rollback_verify_only,
    ("rollback-to-docker.sh", ("--force", "--keep-data")): _rollback_force_keep_data,
}  # fmt: skip


def _sections(script: str, args: tuple[str, ...]) -> str:
    return ", ".join(dict.fromkeys(s for s, sc, a in GUIDE if (sc, a) == (script, args)))


def _verb(script: str, args: tuple[str, ...]) -> str:
    if script == "migration-recovery.sh":
        return "diagnose" if args == ("diagnose",) else "recover"
    return NEEDS[script]


def test_every_usage_line_of_the_guide_has_an_expectation() -> None:
    shell = {(sc, a) for _, sc, a in GUIDE if sc.endswith(".sh")}
    assert shell == set(COMMANDS), "GUIDE and COMMANDS must cover each other"
    assert len(GUIDE) == 43


@pytest.mark.parametrize(
    ("script", "args"),
    [pytest.param(sc, a, id=f"{sc} {' '.join(a)} [{_sections(sc, a)}]".replace("  ", " ")) for sc, a in COMMANDS],
)
def test_usage_line(project: SeedProject, script: str, args: tuple[str, ...]) -> None:
    verb = _verb(script, args)
    if not verb_exists(verb):
        pytest.fail(f"`podshift {verb}` does not exist in this checkout; the guide's `{script}` needs it")
    COMMANDS[(script, args)](project)


# -- the wrappers themselves (a copy of the example, not deployed: no engine is needed) --------------------
@pytest.fixture
def plain(tmp_path: Path) -> SeedProject:
    path = tmp_path / "phoenix-hydra"
    shutil.copytree(EXAMPLE, path)
    return SeedProject(tmp_path, path, "i14-plain", {**os.environ, "COMPOSE_PROJECT_NAME": "i14-plain"}, None)  # type: ignore[arg-type]


def test_unknown_scenario_prints_usage_and_exits_2(plain: SeedProject) -> None:
    project = plain
    proc = project.run("migration-recovery.sh", "disk-full")
    assert proc.returncode == 2
    assert proc.stderr.startswith("usage: migration-recovery.sh {failed-build|failed-startup|")
    assert project.run("migration-recovery.sh").returncode == 2


def test_wrappers_pass_flags_through_and_return_podshifts_exit_code(plain: SeedProject) -> None:
    project = plain
    bad = project.run("backup-docker-config.sh", "--no-such-flag")
    assert bad.returncode == 2
    assert "--no-such-flag" in bad.stderr  # argparse's own line, from podshift
    # An explicit --project-dir wins over the current directory.
    elsewhere = project.run("backup-docker-config.sh", "--verify-only", "--project-dir", str(project.root / "nope"))
    assert elsewhere.returncode == 2
    assert "no such directory" in elsewhere.stderr


def test_wrapper_finds_podshift_beside_it_or_on_path(plain: SeedProject, tmp_path: Path) -> None:
    project = plain
    """Installed beside a podshift (a venv's bin/), the wrapper runs that one; absent everywhere: exit 127."""
    fake = tmp_path / "bin"
    fake.mkdir()
    for name in ("backup-docker-config.sh", "podshift-wrapper.sh"):
        shutil.copy2(SCRIPTS / name, fake / name)
    (fake / "podshift").write_text('#!/bin/sh\necho "beside: $*"\nexit 7\n')
    (fake / "podshift").chmod(0o755)
    env = {**project.env, "PATH": "/usr/bin:/bin"}
    env.pop("PODSHIFT", None)
    proc = subprocess.run(
        [str(fake / "backup-docker-config.sh"), "--force"], cwd=project.path, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 7
    assert proc.stdout.strip() == "beside: backup --force"
    (fake / "podshift").unlink()
    missing = subprocess.run(
        [str(fake / "backup-docker-config.sh")], cwd=project.path, env=env, capture_output=True, text=True
    )
    assert missing.returncode == 127
    assert "podshift not found" in missing.stderr


# -- Testing the Rollback Mechanism, scenario 2: Podman's binary unavailable ---------------------------
def _path_without(tmp_path: Path, *hidden: str) -> str:
    """A PATH with every command of the current PATH except *hidden* (symlinks; nothing is uninstalled)."""
    shim = tmp_path / "path"
    shim.mkdir()
    for d in os.environ["PATH"].split(os.pathsep):
        if not os.path.isdir(d):
            continue
        for entry in os.scandir(d):
            if entry.name not in hidden and not (shim / entry.name).exists():
                (shim / entry.name).symlink_to(entry.path)
    return str(shim)


def test_validation_with_podman_unavailable_then_fix_issues(project: SeedProject, tmp_path: Path) -> None:
    env = {**project.env, "PATH": _path_without(tmp_path, "podman")}
    assert shutil.which("podman", path=env["PATH"]) is None
    proc = project.run("validate-migration-prerequisites.sh", env=env)
    no_traceback(proc)
    assert proc.returncode == 1, proc.stdout[-3000:]
    assert VERDICT.findall(proc.stdout)[-1] == "NOT READY"
    assert "podman is not installed" in proc.stdout
    # No user- or project-scope fix installs a package: still NOT READY, and the report says what to run.
    fixed = project.run("validate-migration-prerequisites.sh", "--fix-issues", env=env)
    no_traceback(fixed)
    assert fixed.returncode == 1, fixed.stdout[-3000:]
    assert VERDICT.findall(fixed.stdout)[-1] == "NOT READY"
    assert "podman is not installed" in fixed.stdout


# -- the PowerShell wrapper (PowerShell cannot be installed on these machines) ---------------------------
PS1 = SCRIPTS / "rollback-to-docker.ps1"


def test_powershell_wrapper_maps_the_guides_switches_to_podshift_rollback() -> None:
    """Rows "PowerShell Version": the switches map one to one onto podshift rollback's flags."""
    text = PS1.read_text()
    assert {a for sc, a in ((sc, a) for _, sc, a in GUIDE) if sc.endswith(".ps1")} == {(), ("-Force", "-KeepData")}
    params = set(re.findall(r"\[switch\]\$(\w+)", text))
    assert params == {"Force", "KeepData", "VerifyOnly"}
    mapping = dict(re.findall(r"if \(\$(\w+)\) \{ \$argv \+= '(--[a-z-]+)' \}", text))
    assert mapping == {"Force": "--force", "KeepData": "--keep-data", "VerifyOnly": "--verify-only"}
    assert "$argv = @('rollback')" in text
    assert "exit $LASTEXITCODE" in text


@pytest.mark.skipif(shutil.which("pwsh") is None, reason="PowerShell is not installed (it cannot be on these hosts)")
def test_powershell_wrapper_runs(project: SeedProject) -> None:
    proc = subprocess.run(
        ["pwsh", "-NoProfile", "-File", str(PS1), "-VerifyOnly"], cwd=project.path, capture_output=True, check=False
    )
    assert proc.returncode in (0, 1)
