"""Stable check ids: shown everywhere, selectable, required for podshift's own checks, documented."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ..conftest import REPO
from .test_verdict import write_checks

WITH_IDS = '''
import pytest

pytestmark = [pytest.mark.category("network")]

@pytest.mark.prerequisites
@pytest.mark.check_id("network.ports-free")
def test_ports():
    """Ports are free."""

@pytest.mark.prerequisites
@pytest.mark.check_id("network.subnets-free")
@pytest.mark.severity("warning")
def test_subnets():
    """Subnets are free."""
    assert False, "10.15.0.0/16 is taken"

@pytest.mark.check_id("network.dns")
@pytest.mark.post_migration
def test_dns_after():
    """DNS works after the move."""
'''


def test_ids_in_terminal_text_json_and_junit(checks_tree: pytest.Pytester) -> None:
    checks_tree.makepyfile(test_net=WITH_IDS)
    result = checks_tree.runpytest(
        "-m", "prerequisites", "--export-report", "--junitxml=reports/r.xml",
        "--json-report", "--json-report-file=reports/r.json",
    )  # fmt: skip
    result.stdout.fnmatch_lines(["WARN   network.subnets-free [[]warning/network[]] Subnets are free."])
    text = (checks_tree.path / "reports/migration-prerequisites-report.txt").read_text()
    assert "network.ports-free" in text
    assert "network.subnets-free" in text
    data = json.loads((checks_tree.path / "reports/r.json").read_text())
    assert {c["check_id"] for c in data["podshift"]["checks"].values()} == {
        "network.ports-free",
        "network.subnets-free",
    }
    assert 'name="check_id" value="network.subnets-free"' in (checks_tree.path / "reports/r.xml").read_text()
    assert "network.subnets-free" in (checks_tree.path / "reports/readiness.html").read_text()


def test_check_runs_only_the_named_checks_and_lists_the_rest_as_not_run(checks_tree: pytest.Pytester) -> None:
    checks_tree.makepyfile(test_net=WITH_IDS)
    result = checks_tree.runpytest("-m", "prerequisites", "--check", "network.ports-free", "--export-report")
    assert result.ret == 0
    result.assert_outcomes(passed=1, deselected=2)
    result.stdout.fnmatch_lines(["NOTRUN network.subnets-free Subnets are free. (deselected)"])
    assert result.outlines[-1] == "podshift verdict: READY (1 PASS, 1 NOT RUN)"
    text = (checks_tree.path / "reports/migration-prerequisites-report.txt").read_text()
    assert "Not run (deselected with -k, -m or --skip-check):" in text
    assert "network.subnets-free" in text.split("Not run")[1]
    # A check of another phase is not "not run": this run is not about it.
    assert "network.dns" not in text


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_skip_check_and_k_deselections_are_listed_in_every_report(
    checks_tree: pytest.Pytester, xdist: list[str]
) -> None:
    write_checks(checks_tree, warn_ok=True, crit_ok=False)
    result = checks_tree.runpytest_subprocess(
        "-m", "prerequisites", "-k", "not crit", "--skip-check", "security.*", "--export-report",
        "--json-report", "--json-report-file=reports/r.json", "--junitxml=reports/r.xml",
        "--html=reports/table.html", *xdist,
    )  # fmt: skip
    # Deselecting the critical failure is no longer silent: the verdict line and every report say so.
    assert result.ret == 0
    assert result.outlines[-1].endswith("(2 PASS, 2 NOT RUN)")
    text = (checks_tree.path / "reports/migration-prerequisites-report.txt").read_text()
    data = json.loads((checks_tree.path / "reports/r.json").read_text())
    page = (checks_tree.path / "reports/readiness.html").read_text()
    for ident in ("podman.crit", "security.info"):
        assert ident in text.split("Not run")[1]
        assert ident in page.split('id="not-run"')[1]
    assert {n["check_id"] for n in data["podshift"]["not_run"]} == {"podman.crit", "security.info"}
    junit = (checks_tree.path / "reports/r.xml").read_text()
    assert '<property name="podshift_not_run" value="podman.crit security.info" />' in junit
    assert "Not run (deselected): podman.crit, security.info" in (checks_tree.path / "reports/table.html").read_text()


def test_unknown_check_id_is_a_usage_error(checks_tree: pytest.Pytester) -> None:
    checks_tree.makepyfile(test_net=WITH_IDS)
    result = checks_tree.runpytest("--check", "network.nope")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*no check has the id 'network.nope' (known ids: network.dns, network.ports-free*"])


def test_missing_and_duplicate_ids_are_collection_errors(checks_tree: pytest.Pytester) -> None:
    checks_tree.makepyfile(
        test_bad='''
import pytest

@pytest.mark.prerequisites
@pytest.mark.check_id("system.same")
def test_one():
    """One."""

@pytest.mark.prerequisites
@pytest.mark.check_id("system.same")
def test_two():
    """Two."""

@pytest.mark.prerequisites
def test_anonymous():
    """No id."""
'''
    )
    result = checks_tree.runpytest("-o", "podshift_require_check_ids=true")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert "test_bad.py::test_anonymous: no @pytest.mark.check_id(...)" in err
    assert "check id 'system.same' is used twice" in err
    assert "Traceback" not in err


def test_malformed_id_is_a_usage_error(checks_tree: pytest.Pytester) -> None:
    checks_tree.makepyfile(
        test_bad='''
import pytest

@pytest.mark.prerequisites
@pytest.mark.check_id("Ports Free")
def test_one():
    """One."""
'''
    )
    result = checks_tree.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*is not a check id (lower case, dot-separated*"])


def test_readme_check_table_is_current() -> None:
    """Every podshift check has a unique id (else collection fails) and the README lists them all."""
    result = subprocess.run(
        [sys.executable, "-m", "podshift.checktable", "--check"], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr or result.stdout
    readme = (REPO / "README.md").read_text()
    assert "| `network.ports-free` | prerequisites | network | critical |" in readme
