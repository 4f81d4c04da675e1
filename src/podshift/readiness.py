"""The readiness session on the controller: results, verdict, reports, exit code.

Registered by the plugin for every session; it stays silent unless podshift
checks ran.  Nothing is written on xdist workers (pytest-html's rule): the
controller receives every report and writes once, so the verdict and the
files are the same with and without ``-n``.
"""

from __future__ import annotations

import html
import json
import shlex
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from podshift import __version__, waivers
from podshift.atomic import write_file_atomically
from podshift.hostfacts import engine_versions, host_summary
from podshift.markers import check_meta
from podshift.outcomes import (
    OUTCOMES,
    P_OUTCOME,
    CheckResult,
    NotRun,
    Verdict,
    properties,
    record,
    style_of,
    title_of,
    verdict_of,
)

TEXT_REPORT = "migration-prerequisites-report.txt"
HTML_REPORT = "readiness.html"
#: Exit status for "could not decide" (a check errored), shared with the CLI.
EXIT_UNDECIDED = 3
_NOT_RUN_KEY = "podshift_not_run"


def _label(outcome: str) -> str:
    return style_of(outcome).label


class ReadinessReporter:
    """Collects check results where reports arrive and turns them into the verdict."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.results: dict[str, CheckResult] = {}
        self.verdict: Verdict | None = None
        self.facts: dict[str, str] = {}
        self.is_worker = hasattr(config, "workerinput")
        #: Checks collected but deselected (-k, -m, --skip-check), by node id.
        self.not_run: dict[str, NotRun] = {}
        self.selected_phases: set[str] = set()

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

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        for item in items:
            meta = check_meta(item)
            if meta.is_check:
                self.not_run[item.nodeid] = NotRun(item.nodeid, meta.check_id, meta.phases, title_of(item))

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            self.selected_phases.update(check_meta(item).phases)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        """xdist: workers collect and deselect; they send what they left out."""
        raw = getattr(node, "workeroutput", {}).get(_NOT_RUN_KEY)
        if raw:
            data = json.loads(raw)
            self.selected_phases.update(data["phases"])
            for n in data["not_run"]:
                self.not_run.setdefault(n["nodeid"], NotRun(n["nodeid"], n["check_id"], tuple(n["phases"]), n["title"]))

    def relevant_not_run(self) -> list[NotRun]:
        """Deselected checks of the phases this run is about (a prerequisites run does not list post_rollback)."""
        return sorted(
            (n for n in self.not_run.values() if set(n.phases) & self.selected_phases and n.nodeid not in self.results),
            key=lambda n: n.check_id,
        )

    def expired_waivers(self) -> list[waivers.Waiver]:
        return waivers.for_config(self.config).expired(waivers.today())

    # -- finishing ---------------------------------------------------------------------
    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.is_worker:
            workeroutput = getattr(self.config, "workeroutput", None)
            if workeroutput is not None:  # the phases name the report, even with nothing deselected
                workeroutput[_NOT_RUN_KEY] = json.dumps(
                    {
                        "phases": sorted(self.selected_phases),
                        "not_run": [asdict(n) for n in self.not_run.values()],
                    }
                )
            return
        if not self.results:
            return
        self.verdict = verdict_of(self.results.values())
        self.facts = {**host_summary(), **engine_versions()}
        self._add_html_metadata()
        self._add_junit_properties()
        status = self.exit_status(int(exitstatus))
        if status is not None:
            session.exitstatus = status
        if self.config.getoption("podshift_export_report"):
            write_file_atomically(self.reports_dir / TEXT_REPORT, self.text_report().encode())
        if self.wants_html_report():
            from podshift.htmlreport import render

            final = status if status is not None else int(exitstatus)
            write_file_atomically(self.html_report_path, render(self, final).encode())

    def exit_status(self, pytest_status: int) -> int | None:
        """The session's exit status as the verdict decides it (None: leave pytest's).

        0 READY (and READY WITH WARNINGS unless --fail-on-warnings), 1 NOT READY,
        3 could not decide (a check errored).  pytest's own usage and
        interruption codes are left alone.
        """
        if pytest_status not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
            return None
        if self.verdict is Verdict.NOT_READY:
            return int(pytest.ExitCode.TESTS_FAILED)
        if self.verdict is Verdict.COULD_NOT_DECIDE:
            return EXIT_UNDECIDED
        if self.verdict is Verdict.READY_WITH_WARNINGS and self.config.getoption("podshift_fail_on_warnings"):
            return int(pytest.ExitCode.TESTS_FAILED)
        return None

    @property
    def html_report_path(self) -> Path:
        """``readiness.html`` for a prerequisites run; a run of other phases is named after them
        (``post-migration.html``), so a migration's checks do not overwrite the readiness report."""
        phases = sorted(self.selected_phases)
        if not phases or "prerequisites" in phases:
            return self.reports_dir / HTML_REPORT
        return self.reports_dir / ("-".join(phases).replace("_", "-") + ".html")

    def wants_html_report(self) -> bool:
        """podshift's own HTML report is written for every run that ran checks (not for --collect-only)."""
        return not self.config.getoption("collectonly")

    def check_html_path(self) -> None:
        """pytest-html must not overwrite podshift's report (it writes after us)."""
        htmlpath = self.config.getoption("htmlpath", None)
        if htmlpath and Path(str(htmlpath)).expanduser().resolve() == self.html_report_path.resolve():
            raise pytest.UsageError(
                f"podshift: --html={htmlpath} is where podshift writes its own readiness report; "
                "give pytest-html's table another name, e.g. --html=reports/pytest-report.html"
            )

    def errored(self) -> list[CheckResult]:
        return [r for r in self.results.values() if r.outcome == "error"]

    def verdict_line(self) -> str:
        verdict = self.verdict or verdict_of(self.results.values())
        line = f"podshift verdict: {verdict.value}"
        if verdict is Verdict.COULD_NOT_DECIDE:
            names = ", ".join(r.check_id or r.nodeid for r in self.errored())
            line += f" — a check errored, so readiness is unknown: {names}"
        return line

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.is_worker or not self.results:
            return
        detailed = self.config.getoption("podshift_detailed")
        # After migrate/rollback/recover steps the checks prove the action, not the host's readiness.
        terminalreporter.section("podshift checks" if self.is_action_session() else "podshift readiness")
        for r in self.results.values():
            if r.outcome == "passed" and not detailed and not r.waiver:
                continue
            terminalreporter.write_line(f"{_label(r.outcome):6} {r.check_id} [{r.severity}/{r.category}] {r.title}")
            if r.message:
                for line in r.message.splitlines():
                    terminalreporter.write_line(f"       {line}")
            if r.waiver:
                terminalreporter.write_line(f"       {r.waiver}")
            if r.remediation and r.outcome not in ("passed", "skipped", "fixed", "waived"):
                terminalreporter.write_line(f"       fix: {self.fix_command(r)}")
            if detailed:
                for ev in r.evidence:
                    terminalreporter.write_line(f"       evidence: {ev}")
        not_run = self.relevant_not_run()
        if len(not_run) <= 5:
            for n in not_run:
                terminalreporter.write_line(f"{'NOTRUN':6} {n.check_id} {n.title} (deselected)")
        else:  # --check on one area deselects most checks: their ids, not a page of titles
            ids = ", ".join(n.check_id for n in not_run)
            terminalreporter.write_line(f"NOTRUN {len(not_run)} checks deselected: {ids}")
        for w in self.expired_waivers():
            terminalreporter.write_line(
                f"waiver for {w.check_id} expired on {w.expires.isoformat()} ({w.who}): it no longer applies"
            )

    def fix_command(self, r: CheckResult) -> str:
        """The exact command that applies this check's fix."""
        argv = ["podshift", "validate"]
        project = self.project_path()
        if project != Path.cwd():
            argv.append(shlex.quote(str(project)))
        argv += ["--fix-issues", "--check", r.check_id]
        if self.fix_scopes().get(r.remediation) == "system":
            argv.insert(0, "sudo")
            argv.append("--allow-system-changes")
        return " ".join(argv)

    def fix_scopes(self) -> dict[str, str]:
        scopes: dict[str, str] = {}
        for provided in self.config.hook.pytest_podshift_fixes(config=self.config):
            for fix in provided or ():
                scopes[fix.name] = fix.scope
        return scopes

    def project_path(self) -> Path:
        """The checked project's directory (as loaded; as configured when it could not be)."""
        from podshift.plugin import project_dir, require_project

        try:
            return require_project(self.config).project_dir
        except pytest.UsageError:
            return project_dir(self.config)

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        # Printed last, after pytest's own summary line.  An action session (migrate, rollback,
        # recover) ends with its own line (``podshift rollback: DONE``): its checks prove the
        # action, they are not a readiness verdict, so no verdict line there.
        if self.verdict is None or self.is_action_session():
            return
        tr = config.pluginmanager.get_plugin("terminalreporter")
        if tr is not None:
            tr.write_line(
                f"{self.verdict_line()} ({self.counts_line()})",
                bold=True,
                red=self.verdict is Verdict.NOT_READY,
                green=self.verdict is Verdict.READY,
                yellow=self.verdict is Verdict.READY_WITH_WARNINGS,
                purple=self.verdict is Verdict.COULD_NOT_DECIDE,
            )

    def is_action_session(self) -> bool:
        """True when the session runs migrate, rollback or recover steps (their line ends it)."""
        from podshift.stepping import action_of

        return action_of(self.config)[0] is not None

    def counts(self) -> dict[str, int]:
        """Results per outcome, every known outcome present (0 when none)."""
        counts = dict.fromkeys(OUTCOMES, 0)
        for r in self.results.values():
            counts[r.outcome] = counts.get(r.outcome, 0) + 1
        return counts

    def counts_line(self) -> str:
        parts = [f"{n} {_label(k)}" for k, n in self.counts().items() if n]
        not_run = len(self.relevant_not_run())
        if not_run:
            parts.append(f"{not_run} NOT RUN")
        return ", ".join(parts)

    # -- the text report ----------------------------------------------------------------
    def text_report(self) -> str:
        lines = [
            "podshift migration prerequisites report",
            "=======================================",
            f"Verdict:   {self.verdict_line().removeprefix('podshift verdict: ')}",
            f"Generated: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M:%S UTC')} by podshift {__version__}",
            f"Project:   {self.project_line()}",
        ]
        lines += [f"{k + ':':10} {v}" for k, v in self.facts.items()]
        lines += ["", f"{'OUTCOME':8} {'SEVERITY':9} {'CATEGORY':11} {'ID':34} CHECK"]
        detailed = self.config.getoption("podshift_detailed")
        indent = " " * 30
        for r in sorted(self.results.values(), key=lambda r: (r.category, r.nodeid)):
            lines.append(f"{_label(r.outcome):8} {r.severity:9} {r.category:11} {r.check_id:34} {r.title}")
            if r.message:
                lines += [f"{indent}{line}" for line in r.message.splitlines()]
            if r.waiver:
                lines.append(f"{indent}{r.waiver}")
            if r.remediation:
                lines.append(f"{indent}remediation: {r.remediation} (`{self.fix_command(r)}`)")
            if detailed:
                lines += [f"{indent}evidence: {ev}" for ev in r.evidence]
        not_run = self.relevant_not_run()
        if not_run:
            lines += ["", "Not run (deselected with -k, -m or --skip-check):"]
            lines += [f"  {n.check_id:34} {n.title}" for n in not_run]
        expired = self.expired_waivers()
        if expired:
            lines += ["", "Expired waivers (no longer applied):"]
            lines += [f"  {w.check_id}: expired {w.expires.isoformat()} ({w.who}): {w.justification}" for w in expired]
        lines += ["", f"Totals: {self.counts_line()}", ""]
        return "\n".join(lines)

    def _add_junit_properties(self) -> None:
        """The verdict, and what did not run, as <testsuite> properties (JUnit has no row for a deselected test)."""
        from _pytest.junitxml import xml_key  # pytest's junitxml plugin keeps its writer there

        xml = self.config.stash.get(xml_key, None)  # present with --junitxml
        if xml is None:
            return
        xml.add_global_property("podshift_verdict", self.verdict.value if self.verdict else "")
        xml.add_global_property("podshift_not_run", " ".join(n.check_id for n in self.relevant_not_run()))
        for w in self.expired_waivers():
            xml.add_global_property("podshift_expired_waiver", f"{w.check_id} {w.expires.isoformat()} {w.who}")

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
        from podshift.outcomes import VERDICT_COLOURS

        colour = VERDICT_COLOURS[self.verdict]
        prefix.append(
            f'<p class="podshift-verdict" style="font-size:1.6em;font-weight:bold;color:{colour}">'
            f"{html.escape(self.verdict_line().replace('podshift verdict', 'Verdict'))}</p>"
            f"<p>{html.escape(self.counts_line())} — the full readiness report is {HTML_REPORT}</p>"
        )
        not_run = self.relevant_not_run()
        if not_run:
            names = ", ".join(html.escape(n.check_id) for n in not_run)
            prefix.append(f'<p class="podshift-not-run">Not run (deselected): {names}</p>')

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_header(self, cells: list[str]) -> None:
        for offset, name in enumerate(("Category", "Check id", "Severity", "Check outcome", "Message", "Remediation")):
            cells.insert(2 + offset, f"<th>{name}</th>")

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_row(self, report: pytest.TestReport, cells: list[str]) -> None:
        r = self.results.get(report.nodeid) or CheckResult(report.nodeid, severity="")
        outcome = properties(report).get(P_OUTCOME, "") if report.when == "call" else ""
        if outcome in ("warning", "fixed", "waived", "info"):
            # pytest-html only knows pytest's outcomes; show podshift's own instead of "Passed".
            # Its filters and counts read the first "<td…>…</td>" of the cell (a regex) and keep
            # only outcomes they know: the attribute carries "Passed" for them, the text shows ours.
            label = style_of(outcome).label.capitalize()
            cells[0] = f'<td data-pytest-result="<td>Passed</td>" class="col-result {outcome}">{label}</td>'
        message = r.message + (f" ({r.waiver})" if r.waiver else "")
        cells.insert(2, f'<td class="col-category">{html.escape(r.category)}</td>')
        cells.insert(3, f'<td class="col-checkid">{html.escape(r.check_id)}</td>')
        cells.insert(4, f'<td class="col-severity">{html.escape(r.severity)}</td>')
        cells.insert(5, f'<td class="col-outcome">{_label(r.outcome) if r.severity else ""}</td>')
        cells.insert(6, f'<td class="col-message">{html.escape(message)}</td>')
        cells.insert(7, f'<td class="col-remediation">{html.escape(r.remediation)}</td>')

    # -- pytest-json-report -----------------------------------------------------------------------
    @pytest.hookimpl(optionalhook=True)
    def pytest_json_runtest_metadata(self, item: pytest.Item, call: pytest.CallInfo[None]) -> dict[str, str] | None:
        meta = check_meta(item)
        if not meta.is_check or call.when != "setup":
            return None
        return {
            "check_id": meta.check_id,
            "category": meta.category or "",
            "severity": meta.severity,
            "remediation": meta.remediation or "",
        }

    @pytest.hookimpl(optionalhook=True)
    def pytest_json_modifyreport(self, json_report: dict[str, Any]) -> None:
        if self.verdict is None:
            return
        json_report["podshift"] = {
            "verdict": self.verdict.value,
            "facts": self.facts,
            "counts": {_label(k): n for k, n in self.counts().items()},
            "not_run": [
                {"check_id": n.check_id, "title": n.title, "nodeid": n.nodeid} for n in self.relevant_not_run()
            ],
            "expired_waivers": [
                {"check_id": w.check_id, "expires": w.expires.isoformat(), "who": w.who} for w in self.expired_waivers()
            ],
            "checks": {
                r.nodeid: {
                    "check_id": r.check_id,
                    "title": r.title,
                    "waiver": r.waiver,
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
