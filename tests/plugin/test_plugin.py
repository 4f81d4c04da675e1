"""The plugin skeleton, driven through pytester in a subprocess-free, in-process pytest."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture
def sample_check(checks_tree: pytest.Pytester) -> pytest.Pytester:
    """One check that uses the project fixtures."""
    checks_tree.makepyfile(
        test_sample='''
import pytest

@pytest.mark.prerequisites
@pytest.mark.category("compose")
@pytest.mark.severity("warning")
@pytest.mark.remediation("qualify-images")
def test_project_loaded(compose_project, project_dir):
    """The project loads."""
    assert compose_project.project_dir == project_dir
    assert "api" in compose_project.services
'''
    )
    return checks_tree


def test_markers_are_registered_for_strict_markers(sample_check: pytest.Pytester) -> None:
    result = sample_check.runpytest("--strict-markers", "-m", "prerequisites")
    result.assert_outcomes(passed=1)


def test_markers_are_listed(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["*@pytest.mark.category(name)*system, docker, podman*"])


def test_project_from_ini_relative_to_the_ini_file(sample_check: pytest.Pytester) -> None:
    sample_check.runpytest().assert_outcomes(passed=1)


def test_default_project_is_the_current_directory(
    sample_check: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    (sample_check.path / "tox.ini").unlink()
    monkeypatch.chdir(sample_check.path / "examples" / "phoenix-hydra")
    result = sample_check.runpytest_subprocess(str(sample_check.path / "test_sample.py"))
    result.assert_outcomes(passed=1)
    monkeypatch.chdir(sample_check.path)  # no compose file here: a usage error naming what was looked for
    result = sample_check.runpytest_subprocess(str(sample_check.path / "test_sample.py"))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*no compose file (looked for compose.yaml, compose.yml, docker-compose.yaml*"])


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "missing", "no such directory"),
        (lambda p: (p / "empty").mkdir() or p / "empty", "no compose file"),
        (
            lambda p: (p / "bad").mkdir() or ((p / "bad" / "compose.yaml").write_text("services: [") and p / "bad"),
            "invalid compose file",
        ),
    ],
    ids=["missing", "no-compose-file", "invalid-compose"],
)
def test_bad_project_dir_is_a_one_line_usage_error(checks_tree: pytest.Pytester, make, message: str) -> None:  # type: ignore[no-untyped-def]
    target = make(checks_tree.path)
    result = checks_tree.runpytest_subprocess("--project-dir", str(target))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.errlines if line.strip()]
    assert len(errors) == 1
    assert errors[0].startswith(f"ERROR: podshift: project {target}: {message}")
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


def test_project_dir_from_environment(checks_tree: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PODSHIFT_PROJECT_DIR", str(checks_tree.path / "nowhere"))
    result = checks_tree.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*nowhere: no such directory*"])


def test_project_dir_from_ini(checks_tree: pytest.Pytester) -> None:
    checks_tree.makeini("[pytest]\npodshift_project_dir = elsewhere\n")
    result = checks_tree.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*elsewhere: no such directory*"])


def test_bad_marker_argument_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
import pytest

@pytest.mark.category("kitchen")
def test_x():
    pass
"""
    )
    result = pytester.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: *test_x: @pytest.mark.category needs a name (one of: system*got 'kitchen'"])


def test_cli_bad_project_dir_exits_2_with_one_line(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "podshift.cli", "validate", "--project-dir", str(tmp_path / "gone")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"podshift: error: project {tmp_path / 'gone'}: no such directory"]


def test_cli_usage_error_exits_2() -> None:
    proc = subprocess.run([sys.executable, "-m", "podshift.cli", "frobnicate"], capture_output=True, check=False)
    assert proc.returncode == 2


def _podshift(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "podshift.cli", *args], capture_output=True, text=True, check=False, timeout=300
    )


def test_cli_validate_verify_only_lists_checks_and_runs_none(example_dir: Path) -> None:
    proc = _podshift("validate", "--verify-only", str(example_dir))
    assert proc.returncode == 0, proc.stderr
    assert "checks/prerequisites/test_podman.py::test_oci_runtime_works_with_this_cgroup_layout" in proc.stdout
    assert "podshift verdict" not in proc.stdout


def test_cli_validate_runs_the_prerequisites_with_the_verdict_last(tmp_path: Path, example_dir: Path) -> None:
    project = tmp_path / "stack"
    shutil.copytree(example_dir, project)
    proc = _podshift("validate", "--project-dir", str(project), "--detailed")
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    assert lines[-1].startswith("podshift verdict: ")
    verdict = lines[-1].removeprefix("podshift verdict: ").split(" (")[0]
    assert proc.returncode == (1 if verdict == "NOT READY" else 0)
    assert "evidence: " in proc.stdout
