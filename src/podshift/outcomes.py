"""Check outcomes and the readiness verdict.

Modelled on pytest's ``skipping.py``: a ``wrapper=True``
``pytest_runtest_makereport`` adjusts outcomes, and everything a report
needs downstream travels in ``report.user_properties`` — which xdist relays
from workers, JUnit XML writes as ``<properties>`` and pytest-json-report
includes.  A failed *warning* check stays ``passed`` for pytest (so
pytest-html, JUnit and the exit code treat it as not failing) and carries
podshift's outcome ``warning``; the terminal shows it as ``W``/``WARNING``.
"""

from __future__ import annotations

import enum
from collections.abc import Generator, Iterable
from dataclasses import dataclass, field

import pytest

from podshift import waivers
from podshift.markers import check_meta, validate_ids

# user_properties keys
P_TITLE, P_CATEGORY, P_SEVERITY, P_REMEDIATION = "title", "category", "severity", "remediation"
P_OUTCOME, P_MESSAGE, P_EVIDENCE = "podshift_outcome", "message", "evidence"
P_ID, P_WAIVER = "check_id", "waiver"


class Verdict(enum.Enum):
    READY = "READY"
    READY_WITH_WARNINGS = "READY WITH WARNINGS"
    NOT_READY = "NOT READY"
    #: A check errored (crashed, or its setup failed) and nothing else decided NOT READY.
    COULD_NOT_DECIDE = "COULD NOT DECIDE"


@dataclass(frozen=True)
class OutcomeStyle:
    """How one outcome reads everywhere: its label, terminal letter and colour.

    Kept as data so that steps (migration, rollback) can add their own outcomes
    and every report renders them without code changes.
    """

    label: str
    letter: str
    colour: str


#: Every outcome a check (or step) can have, worst first: reports list problems in this order.
#: A new outcome (a step's "already-done", say) is one more entry here.
OUTCOMES: dict[str, OutcomeStyle] = {
    "failed": OutcomeStyle("FAIL", "F", "#cf222e"),
    "error": OutcomeStyle("ERROR", "E", "#8250df"),
    "warning": OutcomeStyle("WARN", "W", "#9a6700"),
    "waived": OutcomeStyle("WAIVED", "V", "#57606a"),
    "fixed": OutcomeStyle("FIXED", "R", "#0969da"),
    "info": OutcomeStyle("INFO", "I", "#0969da"),
    "passed": OutcomeStyle("PASS", ".", "#1a7f37"),
    "skipped": OutcomeStyle("SKIP", "s", "#57606a"),
}

VERDICT_COLOURS = {
    Verdict.READY: "#1a7f37",
    Verdict.READY_WITH_WARNINGS: "#9a6700",
    Verdict.NOT_READY: "#cf222e",
    Verdict.COULD_NOT_DECIDE: "#8250df",
}


def style_of(outcome: str) -> OutcomeStyle:
    """How *outcome* reads (an unknown one: its own name, in grey)."""
    return OUTCOMES.get(outcome) or OutcomeStyle(outcome.upper(), "?", "#57606a")


@dataclass
class CheckResult:
    """One check's result, assembled from its setup/call/teardown reports."""

    nodeid: str
    check_id: str = ""
    title: str = ""
    category: str = ""
    severity: str = "critical"
    remediation: str = ""
    outcome: str = "passed"  # a key of OUTCOMES
    message: str = ""
    #: The waiver that applied ("waived by …") or no longer applies ("expired …").
    waiver: str = ""
    evidence: list[str] = field(default_factory=list)
    duration: float = 0.0
    fix_plan: str = ""
    journal_entry: str = ""

    @property
    def blocks(self) -> bool:
        """Whether this result makes the host NOT READY."""
        return self.outcome in ("failed", "error")


@dataclass(frozen=True)
class NotRun:
    """A check that was collected but deselected (-k, -m, --skip-check): every report lists it."""

    nodeid: str
    check_id: str
    phases: tuple[str, ...]
    title: str


def verdict_of(results: Iterable[CheckResult]) -> Verdict:
    """A critical failure decides NOT READY; otherwise a check that errored leaves the question open."""
    outcomes = {r.outcome for r in results}
    if "failed" in outcomes:
        return Verdict.NOT_READY
    if "error" in outcomes:
        return Verdict.COULD_NOT_DECIDE
    if "warning" in outcomes:
        return Verdict.READY_WITH_WARNINGS
    return Verdict.READY


def title_of(item: pytest.Item) -> str:
    doc = getattr(getattr(item, "obj", None), "__doc__", None) or ""
    first = doc.strip().splitlines()[0].strip() if doc.strip() else ""
    return first or item.name


def message_of(excinfo: pytest.ExceptionInfo[BaseException]) -> str:
    """The check's own words: an assert's message without the rewritten expression."""
    text = str(excinfo.value)
    if isinstance(excinfo.value, AssertionError):
        text = text.split("\nassert ", 1)[0]
        if text.startswith("assert "):  # an assert without a message
            text = f"check failed: {text}"
    return text.strip() or excinfo.typename


def properties(report: pytest.TestReport) -> dict[str, str]:
    """podshift's single-valued properties of a report."""
    return {str(k): str(v) for k, v in report.user_properties if k != P_EVIDENCE}


def evidence_of(report: pytest.TestReport) -> list[str]:
    return [str(v) for k, v in report.user_properties if k == P_EVIDENCE]


def _set(report: pytest.TestReport, item: pytest.Item, key: str, value: str) -> None:
    for props in (item.user_properties, report.user_properties):
        props[:] = [(k, v) for k, v in props if k != key]
        props.append((key, value))


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Parse every item's markers up front (before -k/-m deselect any): a bad one is a usage error."""
    validate_ids(items, config)
    if any(check_meta(i).is_check for i in items):
        waivers.for_config(config)  # a bad waiver file stops the run before anything runs


#: Properties that describe one run of a check, not the check itself.
_PER_RUN = (P_OUTCOME, P_MESSAGE, P_EVIDENCE, P_WAIVER)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    # Reports copy item.user_properties: a re-run (after a fix) must not inherit
    # the previous run's outcome, message or evidence.
    item.user_properties[:] = [(k, v) for k, v in item.user_properties if k not in _PER_RUN]


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    meta = check_meta(item)
    if not meta.is_check:
        return report
    for key, value in (
        (P_ID, meta.check_id),
        (P_TITLE, title_of(item)),
        (P_CATEGORY, meta.category or ""),
        (P_SEVERITY, meta.severity),
        (P_REMEDIATION, meta.remediation or ""),
    ):
        if key not in dict(report.user_properties):
            _set(report, item, key, value)
    if call.when != "call" or report.skipped:
        return report
    waiver = waivers.for_config(item.config).entries.get(meta.check_id)
    today = waivers.today()
    if waiver is not None and waiver.expired(today):
        _set(
            report,
            item,
            P_WAIVER,
            f"waiver expired on {waiver.expires.isoformat()} ({waiver.who}); it no longer applies",
        )
        waiver = None
    if call.excinfo is None:
        return report
    message = message_of(call.excinfo)
    # Only the check's own verdict takes its severity; a check that crashed
    # proved nothing: it is an error, which no severity or waiver softens.
    verdict = call.excinfo.errisinstance((AssertionError, pytest.fail.Exception))
    if not verdict:
        message = f"the check itself crashed ({call.excinfo.typename}: {message})"
        _set(report, item, P_OUTCOME, "error")
    _set(report, item, P_MESSAGE, message)
    if verdict:
        # The check's words are the whole story: no traceback noise in the
        # terminal, the HTML log or JUnit.  A crash keeps its traceback.
        report.longrepr = message
    if verdict and waiver is not None:
        # Not a failure for pytest nor for the verdict; every report shows why.
        _set(report, item, P_OUTCOME, "waived")
        _set(report, item, P_WAIVER, waiver.describe())
        report.outcome = "passed"
        report.longrepr = None
    elif verdict and meta.severity in ("warning", "info"):
        # Not a failure for pytest: the verdict and our columns carry it.
        _set(report, item, P_OUTCOME, meta.severity)
        report.outcome = "passed"
        report.longrepr = None
    return report


def pytest_report_teststatus(report: pytest.TestReport) -> tuple[str, str, str] | None:
    if report.when == "call":
        outcome = properties(report).get(P_OUTCOME)
        if outcome in ("warning", "info", "fixed", "waived"):
            style = style_of(outcome)
            word = {"warning": "WARNING"}.get(outcome, style.label)
            return outcome, style.letter, word
    return None


def record(results: dict[str, CheckResult], report: pytest.TestReport) -> None:
    """Fold one stage's report into the results (runs where reports arrive: the controller)."""
    props = properties(report)
    if P_SEVERITY not in props:
        return  # not a podshift check
    r = results.setdefault(report.nodeid, CheckResult(report.nodeid))
    r.check_id = props.get(P_ID, r.check_id)
    r.title = props.get(P_TITLE, r.title)
    r.category = props.get(P_CATEGORY, r.category)
    r.severity = props.get(P_SEVERITY, r.severity)
    r.remediation = props.get(P_REMEDIATION, r.remediation)
    r.evidence = evidence_of(report) or r.evidence
    r.duration += report.duration
    r.fix_plan = props.get("fix_plan", r.fix_plan)
    r.journal_entry = props.get("journal_entry", r.journal_entry)
    if report.when == "call":
        r.waiver = props.get(P_WAIVER, "")
    if report.failed:
        crashed = report.when != "call" or props.get(P_OUTCOME) == "error"
        r.outcome = "error" if crashed else "failed"
        r.message = props.get(P_MESSAGE) or _longrepr_line(report)
    elif report.skipped and r.outcome == "passed":
        r.outcome = "skipped"
        r.message = _longrepr_line(report)
    elif report.when == "call" and props.get(P_OUTCOME):
        r.outcome = props[P_OUTCOME]
        r.message = props.get(P_MESSAGE, "")


def _longrepr_line(report: pytest.TestReport) -> str:
    if isinstance(report.longrepr, tuple):  # skip: (path, lineno, reason)
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        return str(crash.message).splitlines()[0]
    return str(report.longrepr or "").strip().splitlines()[-1:][0] if report.longrepr else ""
