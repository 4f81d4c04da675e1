"""Verdict, outcomes, exit codes and report files — with and without xdist."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

CHECKS = '''
import pytest

pytestmark = [pytest.mark.prerequisites]

@pytest.mark.category("system")
@pytest.mark.severity("critical")
def test_ok(evidence):
    """A healthy fact."""
    evidence("seen", "all good")

@pytest.mark.category("docker")
@pytest.mark.severity("warning")
@pytest.mark.remediation("fix-the-thing")
def test_warn():
    """Something worth a warning."""
    assert WARN_OK, "the thing is off on this host: do X"

@pytest.mark.category("security")
@pytest.mark.severity("info")
def test_info():
    """Something to know."""
    assert False, "SELinux is enforcing"

@pytest.mark.category("podman")
@pytest.mark.severity("critical")
@pytest.mark.remediation("select-oci-runtime")
def test_crit():
    """A blocker."""
    assert CRIT_OK, "crun cannot start containers here: set runtime = runc"
'''


def write_checks(pytester: pytest.Pytester, *, warn_ok: bool, crit_ok: bool) -> None:
    pytester.makepyfile(test_checks=f"WARN_OK = {warn_ok}\nCRIT_OK = {crit_ok}\n" + CHECKS)


XDIST = [pytest.param([], id="serial"), pytest.param(["-n", "2"], id="xdist")]


@pytest.mark.parametrize("xdist", XDIST)
@pytest.mark.parametrize(
    ("warn_ok", "crit_ok", "extra", "verdict", "code"),
    [
        (True, True, [], "READY", 0),
        (False, True, [], "READY WITH WARNINGS", 0),
        (False, True, ["--fail-on-warnings"], "READY WITH WARNINGS", 1),
        (True, False, [], "NOT READY", 1),
        (False, False, [], "NOT READY", 1),
    ],
)
def test_verdict_and_exit_code(
    checks_tree: pytest.Pytester,
    xdist: list[str],
    warn_ok: bool,
    crit_ok: bool,
    extra: list[str],
    verdict: str,
    code: int,
) -> None:
    write_checks(checks_tree, warn_ok=warn_ok, crit_ok=crit_ok)
    result = checks_tree.runpytest_subprocess("-m", "prerequisites", *xdist, *extra)
    assert result.ret == code
    lines = [ln for ln in result.outlines if ln.strip()]
    assert lines[-1].startswith(f"podshift verdict: {verdict} (")


def test_warning_is_its_own_outcome_not_a_failure(checks_tree: pytest.Pytester) -> None:
    write_checks(checks_tree, warn_ok=False, crit_ok=True)
    result = checks_tree.runpytest("-v")
    result.stdout.fnmatch_lines(["*test_warn WARNING*", "*test_info INFO*"])
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == 0
    assert outcomes["warnings"] == 1  # pytester normalizes the "warning" stat to its plural
    result.stdout.fnmatch_lines(
        [
            "WARN   docker.warn [[]warning/docker[]] Something worth a warning.",
            "       the thing is off on this host: do X",
            "       fix: podshift validate */examples/phoenix-hydra --fix-issues --check docker.warn",
        ]
    )
    assert "Traceback" not in result.stdout.str()


def test_failure_message_is_the_checks_own_words(checks_tree: pytest.Pytester) -> None:
    write_checks(checks_tree, warn_ok=True, crit_ok=False)
    result = checks_tree.runpytest()
    result.stdout.fnmatch_lines(
        [
            "FAIL   podman.crit [[]critical/podman[]] A blocker.",
            "       crun cannot start containers here: set runtime = runc",
        ]
    )
    # No traceback noise: the failure section holds the check's own words.
    assert "assert CRIT_OK" not in result.stdout.str()
    assert "Traceback" not in result.stdout.str()


def test_a_crashing_warning_check_is_an_error_and_the_verdict_is_undecided(checks_tree: pytest.Pytester) -> None:
    checks_tree.makepyfile(
        test_crash='''
import pytest

@pytest.mark.prerequisites
@pytest.mark.category("compose")
@pytest.mark.severity("warning")
def test_crashes():
    """Crashes."""
    a, b = "no-separator".split("=")
'''
    )
    result = checks_tree.runpytest()
    assert result.ret == 3  # could not decide: exit 3, not NOT READY's 1
    result.stdout.fnmatch_lines(
        [
            "ERROR  compose.crashes [[]warning/compose[]] Crashes.",
            "       the check itself crashed (ValueError: not enough values to unpack*",
        ]
    )
    assert result.outlines[-1].startswith(
        "podshift verdict: COULD NOT DECIDE — a check errored, so readiness is unknown: compose.crashes ("
    )


def test_setup_error_makes_the_verdict_undecided(checks_tree: pytest.Pytester) -> None:
    checks_tree.makepyfile(
        test_err='''
import pytest

@pytest.fixture
def broken():
    raise RuntimeError("probe exploded")

@pytest.mark.prerequisites
@pytest.mark.category("system")
@pytest.mark.severity("warning")
def test_needs_broken(broken):
    """Needs a broken probe."""
'''
    )
    result = checks_tree.runpytest()
    assert result.ret == 3
    assert result.outlines[-1].startswith("podshift verdict: COULD NOT DECIDE — ")
    assert "system.needs-broken" in result.outlines[-1]


def test_a_critical_failure_decides_not_ready_even_beside_an_error(checks_tree: pytest.Pytester) -> None:
    write_checks(checks_tree, warn_ok=True, crit_ok=False)
    checks_tree.makepyfile(
        test_crash="""
import pytest

@pytest.mark.prerequisites
@pytest.mark.category("compose")
def test_crashes():
    raise OSError("engine answered 500: a disk usage operation is already running")
"""
    )
    result = checks_tree.runpytest()
    assert result.ret == 1
    assert result.outlines[-1].startswith("podshift verdict: NOT READY (1 FAIL, 1 ERROR")


@pytest.mark.parametrize("xdist", XDIST)
def test_text_report_is_written_once_by_the_controller(checks_tree: pytest.Pytester, xdist: list[str]) -> None:
    write_checks(checks_tree, warn_ok=False, crit_ok=True)
    checks_tree.runpytest_subprocess("--export-report", *xdist)
    text = (checks_tree.path / "reports" / "migration-prerequisites-report.txt").read_text()
    assert "Verdict:   READY WITH WARNINGS" in text
    assert "Docker:" in text
    assert "Podman:" in text
    for title in ("A healthy fact.", "Something worth a warning.", "Something to know.", "A blocker."):
        assert text.count(title) == 1
    assert f"WARN     warning   docker      {'docker.warn':34} Something worth a warning." in text
    project = checks_tree.path / "examples" / "phoenix-hydra"
    assert f"remediation: fix-the-thing (`podshift validate {project} --fix-issues --check docker.warn`)" in text
    assert "evidence:" not in text
    assert not list((checks_tree.path / "reports").glob(".*")), "a temporary file was left behind"


def test_detailed_adds_evidence_of_passed_checks(checks_tree: pytest.Pytester) -> None:
    write_checks(checks_tree, warn_ok=True, crit_ok=True)
    result = checks_tree.runpytest("--detailed", "--export-report")
    result.stdout.fnmatch_lines(
        ["PASS   system.ok [[]critical/system[]] A healthy fact.", "       evidence: seen: all good"]
    )
    assert "evidence: seen: all good" in (checks_tree.path / "reports/migration-prerequisites-report.txt").read_text()


@pytest.mark.parametrize("xdist", XDIST)
def test_html_junit_and_json_reports(checks_tree: pytest.Pytester, xdist: list[str]) -> None:
    write_checks(checks_tree, warn_ok=False, crit_ok=True)
    result = checks_tree.runpytest_subprocess(
        "--html=reports/r.html",
        "--self-contained-html",
        "--junitxml=reports/r.xml",
        "--json-report",
        "--json-report-file=reports/r.json",
        *xdist,
    )
    assert result.ret == 0
    html = (checks_tree.path / "reports/r.html").read_text()
    assert "Verdict: READY WITH WARNINGS" in html
    for column in ("Category", "Check id", "Severity", "Check outcome", "Message", "Remediation"):
        assert f"&lt;th&gt;{column}&lt;/th&gt;" in html or f"<th>{column}</th>" in html
    assert "the thing is off on this host: do X" in html
    assert "Docker" in html  # engines in the environment table
    assert "Podman" in html

    root = ET.parse(checks_tree.path / "reports/r.xml").getroot()  # noqa: S314 - our own report
    case = next(c for c in root.iter("testcase") if c.get("name") == "test_warn")
    props = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert props["category"] == "docker"
    assert props["severity"] == "warning"
    assert props["podshift_outcome"] == "warning"
    assert case.find("failure") is None

    report = json.loads((checks_tree.path / "reports/r.json").read_text())
    assert report["podshift"]["verdict"] == "READY WITH WARNINGS"
    warn = next(t for t in report["tests"] if t["nodeid"].endswith("test_warn"))
    assert warn["metadata"] == {
        "check_id": "docker.warn",
        "category": "docker",
        "severity": "warning",
        "remediation": "fix-the-thing",
    }
    assert report["podshift"]["checks"][warn["nodeid"]]["outcome"] == "warning"
