"""The podshift command as users run it: the project from the current directory (or -f, COMPOSE_FILE,
-p, COMPOSE_PROJECT_NAME, PROJECT_DIR), reports in ./reports, fixes per project, one-line usage errors.

Each test runs the checkout's podshift in a child process, from a private copy of the reference stack.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ..conftest import EXAMPLE

COMPOSE = "docker-compose.yml"


def podshift(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("COMPOSE_") and k != "PODSHIFT_PROJECT_DIR"}
    return subprocess.run(
        [sys.executable, "-m", "podshift", *args],
        cwd=cwd,
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def as_json(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(proc.stdout)
    except json.JSONDecodeError as e:
        raise AssertionError(f"stdout is not one JSON document ({e}):\n{proc.stdout[-2000:]}\n{proc.stderr}") from e
    return data


@pytest.fixture
def workdir(shared_dir: Path) -> Path:
    """A scratch directory outside the checkout (no compose file in it)."""
    return shared_dir


@pytest.fixture
def project(workdir: Path) -> Path:
    path = workdir / "stack"
    shutil.copytree(EXAMPLE, path)
    return path


@pytest.fixture
def split_files(project: Path) -> Path:
    """The stack's compose file as a.yml, plus b.yml that renames the project: only Compose merging both says so."""
    (project / COMPOSE).rename(project / "a.yml")
    (project / "b.yml").write_text("name: i10-merged\n")
    return project


def test_validate_in_the_project_directory_checks_that_project(project: Path) -> None:
    proc = podshift("validate", cwd=project)
    verdict = [ln for ln in proc.stdout.splitlines() if ln.startswith("podshift verdict: ")]
    assert verdict, proc.stdout[-3000:] + proc.stderr
    assert proc.returncode == (1 if "NOT READY" in verdict[-1] else 0)
    report = project / "reports" / "migration-prerequisites-report.txt"
    assert f"Project:   {project} (project phoenix-hydra)" in report.read_text()
    assert f"podshift: report: {report}" in proc.stdout
    assert proc.stdout.splitlines()[-1] == verdict[-1], "the verdict is printed last"


def test_reports_dir_and_quiet_and_json(project: Path, workdir: Path) -> None:
    reports = workdir / "elsewhere"
    quiet = podshift("validate", "-q", "--reports-dir", str(reports), "--html", cwd=project)
    lines = quiet.stdout.splitlines()
    assert len(lines) == 1, quiet.stdout[-3000:]
    assert lines[0].startswith("podshift verdict: ")
    assert (reports / "migration-prerequisites-report.txt").is_file()
    assert (reports / "readiness.html").is_file()
    assert not (project / "reports").exists()
    data = as_json(podshift("validate", "--format", "json", cwd=project))
    assert data["schema"] == 1
    assert data["project"]["dir"] == str(project)
    assert data["verdict"] in ("READY", "READY WITH WARNINGS", "NOT READY")
    assert data["exit_code"] == (1 if data["verdict"] == "NOT READY" else 0)
    assert {c["outcome"] for c in data["checks"]} <= {"passed", "warning", "failed", "error", "skipped", "info"}
    assert all(c["title"] and c["category"] and c["severity"] for c in data["checks"])
    assert str(project / "reports" / "migration-prerequisites-report.txt") in data["reports"]


def test_positional_project_dir(project: Path, workdir: Path) -> None:
    data = as_json(podshift("validate", "--verify-only", "--format", "json", str(project), cwd=workdir))
    assert data["project"]["dir"] == str(project)
    assert any(c["id"].endswith("test_docker_daemon_answers") for c in data["checks"]), data["checks"][:3]
    other = workdir / "other"
    other.mkdir()
    proc = podshift("validate", "--verify-only", str(project), "--project-dir", str(other), cwd=workdir)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "podshift: error: name the project once: PROJECT_DIR and --project-dir differ"
    ]


def test_compose_files_from_the_command_line(split_files: Path) -> None:
    data = as_json(
        podshift("validate", "--verify-only", "--format", "json", "-f", "a.yml", "-f", "b.yml", cwd=split_files)
    )
    assert data["project"]["name"] == "i10-merged"
    assert data["project"]["compose_files"] == [str(split_files / "a.yml"), str(split_files / "b.yml")]
    proc = podshift("backup", "--verify-only", "--file", "a.yml", "--file", "b.yml", cwd=split_files)
    assert proc.returncode == 0, proc.stderr
    assert str(split_files / "b.yml") in proc.stdout


def test_compose_file_and_project_name_from_the_environment(split_files: Path) -> None:
    env = {"COMPOSE_FILE": "a.yml:b.yml"}
    data = as_json(podshift("validate", "--verify-only", "--format", "json", cwd=split_files, env=env))
    assert data["project"]["name"] == "i10-merged"
    assert data["project"]["compose_files"] == [str(split_files / "a.yml"), str(split_files / "b.yml")]
    env = {"COMPOSE_FILE": "a.yml", "COMPOSE_PROJECT_NAME": "i10-from-env"}
    data = as_json(podshift("validate", "--verify-only", "--format", "json", cwd=split_files, env=env))
    assert data["project"]["name"] == "i10-from-env"
    data = as_json(
        podshift("validate", "--verify-only", "--format", "json", "-f", "a.yml", "-p", "i10-flag", cwd=split_files)
    )
    assert data["project"]["name"] == "i10-flag"


def test_no_compose_file_is_one_line_exit_2(workdir: Path) -> None:
    for verb in (["validate"], ["backup", "--verify-only"]):
        proc = podshift(*verb, cwd=workdir)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        (line,) = proc.stderr.strip().splitlines()
        assert line.startswith(f"podshift: error: project {workdir}: no compose file (looked for compose.yaml, ")
        assert proc.stdout == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--rootless-user", "i10-no-such-user"],
            "podshift: error: --rootless-user: there is no user 'i10-no-such-user'",
        ),
        (
            ["--", "-o", "podshift_min_memory_mb=lots"],
            "ERROR: podshift: ini podshift_min_memory_mb = 'lots': expected a",
        ),
        (["--fix"], "podshift: error: unrecognized arguments: --fix"),
    ],
    ids=["missing-user", "bad-ini", "no-abbreviations"],
)
def test_usage_errors_are_one_line_exit_2(project: Path, args: list[str], message: str) -> None:
    proc = podshift("validate", *args, cwd=project)
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr
    assert message in proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert len([ln for ln in proc.stderr.splitlines() if ln.strip() and not ln.startswith("usage:")]) == 1


def test_version_and_help(workdir: Path) -> None:
    version = podshift("--version", cwd=workdir)
    assert version.returncode == 0
    assert version.stdout.startswith("podshift ")
    top = podshift("--help", cwd=workdir).stdout
    assert "exit codes:" in top
    assert "2  usage error" in top
    for verb in ("validate", "backup", "fixes"):
        text = podshift(verb, "--help", cwd=workdir).stdout.rstrip().splitlines()
        assert text[-2] == "example:", text[-3:]
        assert text[-1].strip().split()[0] in ("cd", "podshift"), text[-3:]


def test_fixes_of_two_projects_revert_separately(workdir: Path) -> None:
    """`fixes revert --project-dir A` undoes A's fixes and leaves B's in place; without it, all."""
    env = {"PODSHIFT_FIXES_JOURNAL": str(workdir / "journal.json")}
    projects = {}
    for name in ("a", "b"):
        path = workdir / name
        shutil.copytree(EXAMPLE, path)
        backup = path / ".docker-backup"
        backup.mkdir()
        backup.chmod(0o755)
        projects[name] = path
        proc = podshift("validate", "--fix-issues", "--", "-k", "test_backup_directory_is_usable", cwd=path, env=env)
        assert "FIXED" in proc.stdout, proc.stdout[-3000:] + proc.stderr
        assert backup.stat().st_mode & 0o777 == 0o700
    a, b = projects["a"], projects["b"]
    listed = podshift("fixes", "list", "--project-dir", str(a), cwd=workdir, env=env)
    assert listed.stdout.count("backup-dir") == 1, listed.stdout
    assert str(a) in listed.stdout
    assert str(b) not in listed.stdout
    undone = podshift("fixes", "revert", "--project-dir", str(a), cwd=workdir, env=env)
    assert undone.returncode == 0, undone.stderr
    assert (a / ".docker-backup").stat().st_mode & 0o777 == 0o755
    assert (b / ".docker-backup").stat().st_mode & 0o777 == 0o700, "B's fix was reverted with A's"
    assert podshift("fixes", "list", "--project-dir", str(a), cwd=workdir, env=env).stdout.startswith("no fixes")
    assert podshift("fixes", "revert", cwd=workdir, env=env).returncode == 0
    assert (b / ".docker-backup").stat().st_mode & 0o777 == 0o755


@pytest.mark.parametrize(
    ("docker_host", "named"),
    [("tcp://127.0.0.1:1", "tcp://127.0.0.1:1"), ("unix:///tmp/i10-no-docker.sock", "/tmp/i10-no-docker.sock")],
    ids=["tcp", "unix"],
)
def test_docker_host_pointing_nowhere_fails_the_docker_check_naming_it(
    project: Path, docker_host: str, named: str
) -> None:
    data = as_json(podshift("validate", "--format", "json", cwd=project, env={"DOCKER_HOST": docker_host}))
    (answers,) = [c for c in data["checks"] if c["id"].endswith("::test_docker_daemon_answers")]
    assert answers["outcome"] == "failed", answers
    assert f"not reachable at {named}:" in answers["message"], answers["message"]
    assert data["verdict"] == "NOT READY"
    assert data["exit_code"] == 1


def test_backup_json(project: Path) -> None:
    plan = as_json(podshift("backup", "--verify-only", "--format", "json", cwd=project))
    assert plan["project"]["dir"] == str(project)
    assert str(project / COMPOSE) in {i["name"] for i in plan["items"]}
    assert plan["total_size"] == sum(i["size"] for i in plan["items"])
    missing = podshift("backup", "--verify", "--format", "json", cwd=project)
    assert missing.returncode == 1
    assert "no backup here" in missing.stderr
    refused = podshift("backup", "--format", "json", cwd=project)
    assert refused.returncode == 2
    assert refused.stderr.strip() == "podshift: error: --format json goes with --verify-only or --verify"
    made = podshift("backup", cwd=project)
    assert made.returncode == 0, made.stderr
    verified = as_json(podshift("backup", "--verify", "--format", "json", cwd=project))
    assert verified["verified"] is True
    assert verified["problems"] == []
    assert (project / "reports" / "backup.log").is_file()


def test_a_subdirectory_of_the_project_finds_it_as_compose_does(project: Path) -> None:
    data = as_json(podshift("validate", "--verify-only", "--format", "json", cwd=project / "compose" / "api"))
    assert data["project"]["dir"] == str(project)
