"""The readiness session on the controller: results, verdict, reports, exit code.

Registered by the plugin for every session; it stays silent unless podshift
checks ran.  Nothing is written on xdist workers (pytest-html's rule): the
controller receives every report and writes once, so the verdict and the
files are the same with and without ``-n``.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from podshift import __version__
from podshift.atomic import write_file_atomically
from podshift.hostfacts import engine_versions, host_summary
from podshift.markers import check_meta
from podshift.outcomes import CheckResult, Verdict, record, verdict_of

TEXT_REPORT = "migration-prerequisites-report.txt"
_MARK = {
    "passed": "PASS",
    "failed": "FAIL",
    "warning": "WARN",
    "info": "INFO",
    "skipped": "SKIP",
    "error": "ERROR",
    "fixed": "FIXED",
}


class ReadinessReporter:
    """Collects check results where reports arrive and turns them into the verdict."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.results: dict[str, CheckResult] = {}
        self.verdict: Verdict | None = None
        self.facts: dict[str, str] = {}
        self.is_worker = hasattr(config, "workerinput")

    @property
    def reports_dir(self) -> Path:
        from podshift.plugin import session_reports_dir  # the plugin imports this module

        return session_reports_dir(self.config)

    def project_line(self) -> str:
        """``/srv/app (project app)``: where the checked project is, for report headers."""
        from podshift.plugin import require_project

        try:
            project = require_project(self.config)
        except pytest.UsageError:  # no project could be loaded: the run stopped before the checks
            return "(none)"
        return f"{project.project_dir} (project {project.name})"

    # -- collecting ----------------------------------------------------------------
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        record(self.results, report)

    # -- finishing ---------------------------------------------------------------------
    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.is_worker or not self.results:
            return
        self.verdict = verdict_of(self.results.values())
        self.facts = {**host_summary(), **engine_versions()}
        self._add_html_metadata()
        if self.verdict is Verdict.NOT_READY or (
            self.verdict is Verdict.READY_WITH_WARNINGS and self.config.getoption("podshift_fail_on_warnings")
        ):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        if self.config.getoption("podshift_export_report"):
            write_file_atomically(self.reports_dir / TEXT_REPORT, self.text_report().encode())

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.is_worker or not self.results:
            return
        detailed = self.config.getoption("podshift_detailed")
        terminalreporter.section("podshift readiness")
        for r in self.results.values():
            if r.outcome == "passed" and not detailed:
                continue
            terminalreporter.write_line(
                f"{_MARK.get(r.outcome, r.outcome.upper()):5} [{r.severity}/{r.category}] {r.title}"
            )
            if r.message:
                for line in r.message.splitlines():
                    terminalreporter.write_line(f"      {line}")
            if r.remediation and r.outcome not in ("passed", "skipped", "fixed"):
                terminalreporter.write_line(f"      fix: {r.remediation} (podshift validate --fix-issues)")
            if detailed:
                for ev in r.evidence:
                    terminalreporter.write_line(f"      evidence: {ev}")

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        # Printed last, after pytest's own summary line.
        if self.verdict is None:
            return
        tr = config.pluginmanager.get_plugin("terminalreporter")
        if tr is not None:
            counts = self.counts()
            detail = ", ".join(f"{n} {k}" for k, n in counts.items() if n)
            tr.write_line(
                f"podshift verdict: {self.verdict.value} ({detail})",
                bold=True,
                red=self.verdict is Verdict.NOT_READY,
                green=self.verdict is Verdict.READY,
                yellow=self.verdict is Verdict.READY_WITH_WARNINGS,
            )

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(("passed", "fixed", "warning", "failed", "error", "info", "skipped"), 0)
        for r in self.results.values():
            counts[r.outcome] = counts.get(r.outcome, 0) + 1
        return counts

    # -- the text report ----------------------------------------------------------------
    def text_report(self) -> str:
        verdict = self.verdict or verdict_of(self.results.values())
        lines = [
            "podshift migration prerequisites report",
            "=======================================",
            f"Verdict:   {verdict.value}",
            f"Generated: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M:%S UTC')} by podshift {__version__}",
            f"Project:   {self.project_line()}",
        ]
        lines += [f"{k + ':':10} {v}" for k, v in self.facts.items()]
        lines += ["", f"{'OUTCOME':8} {'SEVERITY':9} {'CATEGORY':11} CHECK"]
        detailed = self.config.getoption("podshift_detailed")
        for r in sorted(self.results.values(), key=lambda r: (r.category, r.nodeid)):
            lines.append(f"{_MARK.get(r.outcome, r.outcome.upper()):8} {r.severity:9} {r.category:11} {r.title}")
            if r.message:
                lines += [f"{'':30}{line}" for line in r.message.splitlines()]
            if r.remediation:
                lines.append(f"{'':30}remediation: {r.remediation}")
            if detailed:
                lines += [f"{'':30}evidence: {ev}" for ev in r.evidence]
        counts = ", ".join(f"{n} {k}" for k, n in self.counts().items() if n)
        lines += ["", f"Totals: {counts}", ""]
        return "\n".join(lines)

    # -- pytest-html -------------------------------------------------------------------------
    def _add_html_metadata(self) -> None:
        try:
            from pytest_metadata.plugin import metadata_key
        except ImportError:  # pytest-metadata comes with pytest-html; absent means no HTML report
            return
        meta = self.config.stash.get(metadata_key, None)
        if meta is not None:
            meta["podshift verdict"] = self.verdict.value if self.verdict else ""
            meta.update(self.facts)

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_summary(
        self, prefix: list[str], summary: list[str], postfix: list[str], session: pytest.Session
    ) -> None:
        if self.verdict is None:
            return
        colour = {"READY": "#1a7f37", "READY WITH WARNINGS": "#9a6700", "NOT READY": "#cf222e"}[self.verdict.value]
        prefix.append(
            f'<p class="podshift-verdict" style="font-size:1.6em;font-weight:bold;color:{colour}">'
            f"Verdict: {self.verdict.value}</p>"
        )

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_header(self, cells: list[str]) -> None:
        cells.insert(2, "<th>Category</th>")
        cells.insert(3, "<th>Severity</th>")
        cells.insert(4, "<th>Check outcome</th>")
        cells.insert(5, "<th>Message</th>")
        cells.insert(6, "<th>Remediation</th>")

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_row(self, report: pytest.TestReport, cells: list[str]) -> None:
        r = self.results.get(report.nodeid) or CheckResult(report.nodeid, severity="")
        cells.insert(2, f'<td class="col-category">{html.escape(r.category)}</td>')
        cells.insert(3, f'<td class="col-severity">{html.escape(r.severity)}</td>')
        cells.insert(4, f'<td class="col-outcome">{_MARK.get(r.outcome, r.outcome).upper() if r.severity else ""}</td>')
        cells.insert(5, f'<td class="col-message">{html.escape(r.message)}</td>')
        cells.insert(6, f'<td class="col-remediation">{html.escape(r.remediation)}</td>')

    # -- pytest-json-report -----------------------------------------------------------------------
    @pytest.hookimpl(optionalhook=True)
    def pytest_json_runtest_metadata(self, item: pytest.Item, call: pytest.CallInfo[None]) -> dict[str, str] | None:
        meta = check_meta(item)
        if not meta.is_check or call.when != "setup":
            return None
        return {"category": meta.category or "", "severity": meta.severity, "remediation": meta.remediation or ""}

    @pytest.hookimpl(optionalhook=True)
    def pytest_json_modifyreport(self, json_report: dict[str, Any]) -> None:
        if self.verdict is None:
            return
        json_report["podshift"] = {
            "verdict": self.verdict.value,
            "facts": self.facts,
            "checks": {
                r.nodeid: {
                    "title": r.title,
                    "outcome": r.outcome,
                    "category": r.category,
                    "severity": r.severity,
                    "remediation": r.remediation,
                    "message": r.message,
                    "evidence": r.evidence,
                    "fix_plan": r.fix_plan,
                    "journal_entry": r.journal_entry,
                }
                for r in self.results.values()
            },
        }


def evidence_recorder(item: pytest.Item) -> Any:
    """The function behind the ``evidence`` fixture."""

    def add(label: str, value: object) -> None:
        item.user_properties.append(("evidence", f"{label}: {value}"))

    return add
