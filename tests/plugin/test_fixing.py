"""--fix-issues through pytester: a third party's check and fix, FIXED, dry-run, scopes, reports, idempotence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from podshift.journal import Journal

# A third party's own directory: a check and its fix, from a conftest, with no change to podshift.
THIRD_PARTY_CONFTEST = """
import pytest
from pathlib import Path
from podshift.remediation import CommandStep, FileChange, Fix, FixRefused, Plan

MARKER = Path(__file__).parent / "state" / "tuned.conf"


class TuneIt(Fix):
    name = "tune-it"
    scope = "project"

    def plan(self, ctx):
        return Plan(self.name, self.scope, f"write {MARKER}", files=(FileChange(MARKER, b"tuned = yes\\n"),))


class SystemWide(Fix):
    name = "system-wide"
    scope = "system"

    def plan(self, ctx):
        return Plan(self.name, self.scope, "change /etc/example",
                    commands=(CommandStep(("touch", "/etc/podshift-example"), ("rm", "/etc/podshift-example")),))


class Picky(Fix):
    name = "picky"
    scope = "user"

    def plan(self, ctx):
        raise FixRefused(self.name, "the moon is in the wrong phase")


@pytest.hookimpl
def pytest_podshift_fixes(config):
    return [TuneIt(), SystemWide(), Picky()]
"""

CHECKS = """
import pytest
from pathlib import Path

pytestmark = [pytest.mark.prerequisites, pytest.mark.category("system")]
STATE = Path(__file__).parent / "state"


@pytest.mark.severity("critical")
@pytest.mark.remediation("tune-it")
def test_tuned():
    \"\"\"The host is tuned.\"\"\"
    assert (STATE / "tuned.conf").exists(), "the host is not tuned"


@pytest.mark.severity("warning")
@pytest.mark.remediation("system-wide")
def test_system_thing():
    \"\"\"A system thing is set.\"\"\"
    assert False, "the system thing is not set"


@pytest.mark.severity("warning")
@pytest.mark.remediation("picky")
def test_picky():
    \"\"\"Something picky.\"\"\"
    assert False, "picky is unhappy"
"""


@pytest.fixture
def third_party(checks_tree: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    checks_tree.makepyfile(test_third_party=CHECKS)
    conftest = checks_tree.path / "conftest.py"
    conftest.write_text(conftest.read_text() + THIRD_PARTY_CONFTEST)
    (checks_tree.path / "state").mkdir()
    monkeypatch.setenv("PODSHIFT_FIXES_JOURNAL", str(checks_tree.path / "journal.json"))
    return checks_tree


def journal(p: pytest.Pytester) -> Journal:
    return Journal(p.path / "journal.json")


def test_third_party_fix_is_applied_journaled_and_proven(third_party: pytest.Pytester) -> None:
    result = third_party.runpytest("-v", "--fix-issues")
    result.stdout.fnmatch_lines(["*test_tuned FIXED*"])
    assert result.ret == 0
    assert result.outlines[-1].startswith("podshift verdict: READY WITH WARNINGS")
    assert (third_party.path / "state" / "tuned.conf").read_bytes() == b"tuned = yes\n"
    [entry] = journal(third_party).entries()
    assert entry.fix == "tune-it"
    assert entry.check.endswith("test_tuned")
    assert entry.files[0].existed is False


def test_second_run_changes_nothing(third_party: pytest.Pytester) -> None:
    third_party.runpytest("--fix-issues")
    before = (third_party.path / "journal.json").read_bytes()
    result = third_party.runpytest("-v", "--fix-issues")
    result.stdout.fnmatch_lines(["*test_tuned PASSED*"])
    assert (third_party.path / "journal.json").read_bytes() == before


def test_revert_restores_the_state(third_party: pytest.Pytester) -> None:
    third_party.runpytest("--fix-issues")
    journal(third_party).revert(log=lambda _: None)
    assert not (third_party.path / "state" / "tuned.conf").exists()
    assert journal(third_party).entries() == []
    assert third_party.runpytest().ret == 1  # NOT READY again


def test_dry_run_shows_the_plan_and_changes_nothing(third_party: pytest.Pytester) -> None:
    result = third_party.runpytest("--fix-issues", "--dry-run")
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        ["*[[]dry-run[]] fix tune-it would change:*", "*+++ *tuned.conf (after fix)*", "*+tuned = yes*"]
    )
    assert not (third_party.path / "state" / "tuned.conf").exists()
    assert not (third_party.path / "journal.json").exists()


def test_system_scope_needs_permission_and_shows_the_command(third_party: pytest.Pytester) -> None:
    result = third_party.runpytest("--fix-issues")
    result.stdout.fnmatch_lines(
        [
            "*fix system-wide not applied: it changes the system: re-run with --allow-system-changes*",
            "*$ touch /etc/podshift-example*",
        ]
    )
    assert not Path("/etc/podshift-example").exists()


def test_refusing_fix_says_why(third_party: pytest.Pytester) -> None:
    result = third_party.runpytest("--fix-issues")
    result.stdout.fnmatch_lines(["*fix picky refused: the moon is in the wrong phase*"])


def test_fix_issues_runs_serially_even_with_xdist(third_party: pytest.Pytester) -> None:
    result = third_party.runpytest_subprocess("-v", "--fix-issues", "-n", "2")
    result.stdout.fnmatch_lines(["*test_tuned FIXED*"])
    assert "created: 2/2 workers" not in result.stdout.str()


def test_dry_run_without_fix_issues_is_a_usage_error(third_party: pytest.Pytester) -> None:
    assert third_party.runpytest_subprocess("--dry-run").ret == pytest.ExitCode.USAGE_ERROR


def test_reports_show_fixed_with_plan_and_journal_entry(third_party: pytest.Pytester) -> None:
    result = third_party.runpytest(
        "--fix-issues",
        "--export-report",
        "--json-report",
        "--json-report-file=reports/r.json",
        "--junitxml=reports/r.xml",
        "--html=reports/r.html",
        "--self-contained-html",
    )
    assert result.ret == 0
    [entry] = journal(third_party).entries()
    data = json.loads((third_party.path / "reports/r.json").read_text())["podshift"]
    tuned = next(c for n, c in data["checks"].items() if n.endswith("test_tuned"))
    assert tuned["outcome"] == "fixed"
    assert tuned["journal_entry"] == entry.id
    assert "+tuned = yes" in tuned["fix_plan"]
    text = (third_party.path / "reports/migration-prerequisites-report.txt").read_text()
    assert f"FIXED    critical  system      {'system.tuned':34} The host is tuned." in text
    assert f"journal {entry.id}" in text
    assert "podshift_outcome" in (third_party.path / "reports/r.xml").read_text()
    assert "FIXED" in (third_party.path / "reports/r.html").read_text()


def test_a_fixed_warning_check_is_fixed_not_still_warning(
    checks_tree: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A re-run must not inherit the first run's outcome (reports copy item.user_properties)."""
    checks_tree.makepyfile(
        test_w=CHECKS.replace(
            '@pytest.mark.severity("critical")\n@pytest.mark.remediation("tune-it")',
            '@pytest.mark.severity("warning")\n@pytest.mark.remediation("tune-it")',
        )
    )
    conftest = checks_tree.path / "conftest.py"
    conftest.write_text(conftest.read_text() + THIRD_PARTY_CONFTEST)
    (checks_tree.path / "state").mkdir()
    monkeypatch.setenv("PODSHIFT_FIXES_JOURNAL", str(checks_tree.path / "journal.json"))
    result = checks_tree.runpytest("-v", "--fix-issues", "-k", "tuned")
    result.stdout.fnmatch_lines(["*test_tuned FIXED*"])
