"""Waivers (InSpec's semantics): a waived check runs, shows WAIVED with its reason, and leaves the verdict alone."""

from __future__ import annotations

import json

import pytest

from .conftest import example_copy
from .test_verdict import XDIST, write_checks

WAIVER = """\
waivers:
  - id: podman.crit
    justification: runc is configured by the fleet's image, after this check runs
    expires: {expires}
    who: alice@example.com
"""


def _waive(pytester: pytest.Pytester, expires: str = "2999-12-31") -> None:
    (example_copy(pytester) / "podshift-waivers.yaml").write_text(WAIVER.format(expires=expires))


@pytest.mark.parametrize("xdist", XDIST)
def test_a_waived_failure_shows_waived_and_keeps_the_verdict(checks_tree: pytest.Pytester, xdist: list[str]) -> None:
    write_checks(checks_tree, warn_ok=True, crit_ok=False)
    _waive(checks_tree)
    result = checks_tree.runpytest_subprocess(
        "-m", "prerequisites", "-v", "--export-report", "--json-report", "--json-report-file=reports/r.json", *xdist
    )  # fmt: skip
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [
            "WAIVED podman.crit [[]critical/podman[]] A blocker.",
            "       crun cannot start containers here: set runtime = runc",
            "       waived by alice@example.com until 2999-12-31: runc is configured by the fleet's image*",
        ]
    )
    assert result.outlines[-1].startswith("podshift verdict: READY (")
    assert "1 WAIVED" in result.outlines[-1]
    text = (checks_tree.path / "reports/migration-prerequisites-report.txt").read_text()
    assert "WAIVED   critical  podman" in text
    assert "runc is configured by the fleet's image" in text
    check = json.loads((checks_tree.path / "reports/r.json").read_text())["podshift"]["checks"]
    crit = next(c for c in check.values() if c["check_id"] == "podman.crit")
    assert crit["outcome"] == "waived"
    assert "alice@example.com" in crit["waiver"]
    page = (checks_tree.path / "reports/readiness.html").read_text()
    assert "runc is configured by the fleet&#39;s image" in page


def test_an_expired_waiver_no_longer_applies_and_is_reported(checks_tree: pytest.Pytester) -> None:
    write_checks(checks_tree, warn_ok=True, crit_ok=False)
    _waive(checks_tree, expires="2020-01-31")
    result = checks_tree.runpytest("-m", "prerequisites", "--export-report")
    assert result.ret == 1
    assert result.outlines[-1].startswith("podshift verdict: NOT READY")
    result.stdout.fnmatch_lines(
        [
            "FAIL   podman.crit *",
            "*waiver expired on 2020-01-31 (alice@example.com); it no longer applies",
        ]
    )
    text = (checks_tree.path / "reports/migration-prerequisites-report.txt").read_text()
    assert "Expired waivers (no longer applied):" in text
    assert "podman.crit: expired 2020-01-31 (alice@example.com)" in text
    assert "Expired waivers" in (checks_tree.path / "reports/readiness.html").read_text()


def test_a_waived_check_that_passes_is_a_pass(checks_tree: pytest.Pytester) -> None:
    write_checks(checks_tree, warn_ok=True, crit_ok=True)
    _waive(checks_tree)
    result = checks_tree.runpytest("-m", "prerequisites")
    assert result.ret == 0
    assert result.outlines[-1] == "podshift verdict: READY (1 INFO, 3 PASS)"


def test_waivers_option_names_the_file(checks_tree: pytest.Pytester) -> None:
    write_checks(checks_tree, warn_ok=True, crit_ok=False)
    (checks_tree.path / "mine.yaml").write_text(WAIVER.format(expires="2999-01-01"))
    result = checks_tree.runpytest("-m", "prerequisites", "--waivers", "mine.yaml")
    assert result.ret == 0
    assert "1 WAIVED" in result.outlines[-1]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("waivers:\n  - id: podman.crit\n    expires: 2999-01-01\n    who: bob\n", "missing justification"),
        ("waivers:\n  - id: podman.crit\n    justification: x\n    expires: soon\n    who: bob\n", "expires must be"),
        ("waivers: [\n", "not valid YAML"),
        ("- id: podman.crit\n", "expected a top-level 'waivers:' list"),
    ],
    ids=["missing-field", "bad-date", "bad-yaml", "no-list"],
)
def test_a_bad_waiver_file_is_one_usage_line(checks_tree: pytest.Pytester, content: str, problem: str) -> None:
    write_checks(checks_tree, warn_ok=True, crit_ok=True)
    (example_copy(checks_tree) / "podshift-waivers.yaml").write_text(content)
    result = checks_tree.runpytest("-m", "prerequisites")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert "podshift: waiver file " in err
    assert problem in err
    assert "Traceback" not in err
