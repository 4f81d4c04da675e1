"""podshift's own readiness report: one self-contained HTML page a person reads at a glance.

Rendered from a Jinja2 template shipped as package data
(``podshift/templates/readiness.html.j2``): the verdict first, then the
project, host, user and engines, the counts per outcome, and the checks
grouped by category with problems first — each with its id, title,
severity, message and the exact command that fixes it; evidence is folded
in ``<details>``.  No JavaScript; print CSS unfolds the evidence.
"""

from __future__ import annotations

import os
import pwd
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape

from podshift import __version__, waivers
from podshift.engines import podman_user
from podshift.outcomes import OUTCOMES, VERDICT_COLOURS, CheckResult, NotRun, Verdict, style_of, verdict_of

if TYPE_CHECKING:
    from podshift.readiness import ReadinessReporter

TEMPLATE = "readiness.html.j2"
_BACKTICKED = re.compile(r"`([^`\n]+)`")
#: Outcomes in the order a reader needs them: problems first.
_ORDER = {name: rank for rank, name in enumerate(OUTCOMES)}
_SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}


@dataclass
class CheckView:
    """One check as the template shows it."""

    check_id: str
    title: str
    severity: str
    outcome: str
    label: str
    colour: str
    message: str
    waiver: str
    commands: list[str] = field(default_factory=list)
    fix_plan: str = ""
    evidence: list[str] = field(default_factory=list)


@dataclass
class GroupView:
    name: str
    checks: list[CheckView]


@dataclass(frozen=True)
class CountView:
    key: str
    label: str
    n: int
    colour: str


def _commands(r: CheckResult, reporter: ReadinessReporter) -> list[str]:
    """podshift's line that fixes this check (the commands a message names show as code in the message)."""
    if r.outcome in ("passed", "skipped", "waived", "fixed") or not r.remediation:
        return []
    return [reporter.fix_command(r)]


def code_spans(text: str) -> Markup:
    """Escape *text*, and show its `backticked` commands as code a person can copy."""
    escaped = str(escape(text))  # everything is escaped first; only our own <code> tags are added
    return Markup(_BACKTICKED.sub(lambda m: f"<code>{m.group(1)}</code>", escaped))  # noqa: S704


def _view(r: CheckResult, reporter: ReadinessReporter) -> CheckView:
    style = style_of(r.outcome)
    return CheckView(
        check_id=r.check_id,
        title=r.title,
        severity=r.severity,
        outcome=r.outcome,
        label=style.label,
        colour=style.colour,
        message=r.message,
        waiver=r.waiver,
        commands=_commands(r, reporter),
        fix_plan=r.fix_plan,
        evidence=r.evidence,
    )


def _groups(results: list[CheckResult], reporter: ReadinessReporter) -> list[GroupView]:
    by_category: dict[str, list[CheckResult]] = {}
    for r in results:
        by_category.setdefault(r.category or "other", []).append(r)
    groups = []
    for name, members in by_category.items():
        members.sort(key=lambda r: (_ORDER.get(r.outcome, len(_ORDER)), _SEVERITY_ORDER.get(r.severity, 3), r.check_id))
        groups.append(GroupView(name, [_view(r, reporter) for r in members]))
    # The category holding the worst result comes first.
    groups.sort(key=lambda g: (min(_ORDER.get(c.outcome, len(_ORDER)) for c in g.checks), g.name))
    return groups


def _user() -> str:
    try:
        me = pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        me = str(os.geteuid())
    target = podman_user()
    podman = "rootful Podman" if target == "root" else f"rootless Podman as {target}"
    return f"{me} (uid {os.geteuid()}); the project moves to {podman}"


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("podshift", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        keep_trailing_newline=True,
    )
    env.filters["code_spans"] = code_spans
    return env


#: After migrate/rollback/recover steps the checks prove the action, not a host's readiness.
ACTION_HEADLINE = {
    Verdict.READY: "CHECKS PASSED",
    Verdict.READY_WITH_WARNINGS: "CHECKS PASSED WITH WARNINGS",
    Verdict.NOT_READY: "CHECKS FAILED",
    Verdict.COULD_NOT_DECIDE: "COULD NOT DECIDE",
}


def _action_line(reporter: ReadinessReporter) -> str | None:
    """``podshift migrate: DONE (...)`` when this session ran an action's steps, else None."""
    if not reporter.is_action_session():
        return None
    runner = reporter.config.pluginmanager.get_plugin("podshift-steps")
    line = runner.outcome_line() if runner is not None and runner.outcomes else None
    return str(line) if line else None


def render(reporter: ReadinessReporter, exit_status: int) -> str:
    """The readiness report of this run as a complete HTML document (an action's checks: its outcome first)."""
    results = list(reporter.results.values())
    verdict = reporter.verdict or verdict_of(results)
    action_line = _action_line(reporter)
    headline = ACTION_HEADLINE[verdict] if action_line else verdict.value
    detail = reporter.verdict_line().split(" — ", 1)[1] if " — " in reporter.verdict_line() else reporter.counts_line()
    counts = reporter.counts()
    shown = ["passed", "warning", "failed", "fixed", "waived", "skipped", "error"]
    shown += [k for k, n in counts.items() if k not in shown and n]  # INFO, and outcomes steps add
    not_run: list[NotRun] = reporter.relevant_not_run()
    count_views = [CountView(k, style_of(k).label, counts.get(k, 0), style_of(k).colour) for k in shown]
    count_views.append(CountView("not-run", "NOT RUN", len(not_run), "#57606a"))
    facts = reporter.facts
    template = _environment().get_template(TEMPLATE)
    return template.render(
        title=f"{action_line.split(':', 1)[0]}: {headline}" if action_line else f"podshift readiness: {headline}",
        verdict=headline,
        verdict_colour=VERDICT_COLOURS[verdict],
        verdict_detail=f"{action_line} · {detail}" if action_line else detail,
        project=reporter.project_line(),
        facts=facts,
        user=_user(),
        engines=[(k, v) for k, v in facts.items() if k in ("Docker", "Podman")],
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        version=__version__,
        counts=count_views,
        groups=_groups(results, reporter),
        not_run=not_run,
        expired_waivers=waivers.for_config(reporter.config).expired(waivers.today()),
        exit_status=exit_status,
    )
