"""``--fix-issues``: repair failed checks through their ``remediation`` fix, then check again.

Registered by the plugin only with ``--fix-issues``.  For a check that fails
and names a fix, the runner (like pytest-rerunfailures, in
``pytest_runtest_protocol``) plans the fix, applies it when its scope is
allowed (or, with ``--dry-run``, only shows it), journals it, and runs the
check again in the same session: FIXED when it now passes, FAILED with the
fix's error otherwise.  Fixing forces a serial run (xdist off): fixes never
run in parallel with each other, nor during collection.
"""

from __future__ import annotations

import pytest
from _pytest.runner import runtestprotocol

from podshift import stepping
from podshift.engines import podman_user
from podshift.errors import PodshiftError
from podshift.hoststate import host_changed
from podshift.journal import open_journal
from podshift.markers import check_meta
from podshift.outcomes import P_MESSAGE, P_OUTCOME, properties
from podshift.remediation import Fix, FixContext, FixFailed, FixRefused, apply_plan, may_apply

P_FIX_PLAN, P_JOURNAL = "fix_plan", "journal_entry"


def _set(report: pytest.TestReport, key: str, value: str) -> None:
    report.user_properties[:] = [(k, v) for k, v in report.user_properties if k != key]
    report.user_properties.append((key, value))


class FixRunner:
    """Applies fixes to failed checks during the run."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.dry_run = bool(config.getoption("podshift_dry_run"))
        self.allow_system = bool(config.getoption("podshift_allow_system_changes"))
        self.journal = open_journal()
        self._fixes: dict[str, Fix] | None = None

    @property
    def fixes(self) -> dict[str, Fix]:
        if self._fixes is None:
            found: dict[str, Fix] = {}
            for provided in self.config.hook.pytest_podshift_fixes(config=self.config):
                for fix in provided or ():
                    found[fix.name] = fix
            self._fixes = found
        return self._fixes

    @staticmethod
    def _needs_fix(reports: list[pytest.TestReport]) -> pytest.TestReport | None:
        for r in reports:
            if r.when == "call" and (r.failed or properties(r).get(P_OUTCOME) == "warning"):
                return r
        return None

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> bool | None:
        meta = check_meta(item)
        if not meta.is_check or not meta.remediation:
            return None
        item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
        reports = runtestprotocol(item, nextitem=nextitem, log=False)
        failed = self._needs_fix(reports)
        if failed is not None:
            reports = self._repair(item, meta.remediation, failed, reports, nextitem)
        for report in reports:
            item.ihook.pytest_runtest_logreport(report=report)
        item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
        return True

    def _repair(
        self,
        item: pytest.Item,
        name: str,
        failed: pytest.TestReport,
        reports: list[pytest.TestReport],
        nextitem: pytest.Item | None,
    ) -> list[pytest.TestReport]:
        before = properties(failed).get(P_MESSAGE, "")

        def explain(text: str) -> list[pytest.TestReport]:
            _set(failed, P_MESSAGE, f"{before}\n{text}" if before else text)
            return reports

        fix = self.fixes.get(name)
        if fix is None:
            return explain(f"no fix named {name!r} is installed")
        from podshift.plugin import current_project

        try:
            project = current_project(self.config)
            ctx = FixContext(self.config, project, podman_user(), check=item.nodeid)
            plan = fix.plan(ctx)
        except FixRefused as e:
            return explain(f"fix {name} refused: {e.reason}")
        except PodshiftError as e:
            return explain(f"fix {name} could not be planned: {e}")
        rendered = plan.render()  # before applying: afterwards the diff is empty
        _set(failed, P_FIX_PLAN, rendered)
        if plan.empty:
            return explain(f"fix {name} found nothing to change")
        if self.dry_run:
            return explain(f"[dry-run] fix {name} would change:\n{rendered}")
        refusal = may_apply(plan, self.allow_system)
        if refusal is not None:
            return explain(f"fix {name} not applied: {refusal}. It would change:\n{rendered}")
        try:
            entry = apply_plan(plan, self.journal, item.nodeid, project.project_dir)
        except FixFailed as e:
            host_changed(self.config)
            return explain(f"{e} (journaled: `podshift fixes revert` undoes what was done)")
        host_changed(self.config)
        again = runtestprotocol(item, nextitem=nextitem, log=False)
        for r in again:
            _set(r, P_FIX_PLAN, rendered)
            _set(r, P_JOURNAL, entry.id)
        call = next((r for r in again if r.when == "call"), None)
        if call is not None and self._needs_fix(again) is None:
            _set(call, P_OUTCOME, "fixed")
            _set(call, P_MESSAGE, f"FIXED by {name} (journal {entry.id}): {plan.summary}\n{rendered}")
        else:
            # Still failing, or the re-check could not even be set up (a setup error or skip).
            still = self._needs_fix(again) or next(r for r in again if not r.passed)
            after = properties(still).get(P_MESSAGE) or str(still.longrepr or "").strip()
            _set(
                still,
                P_MESSAGE,
                f"{after}\nfix {name} was applied (journal {entry.id}) but the check "
                "still fails; `podshift fixes revert` undoes it",
            )
        return again

    def pytest_report_header(self, config: pytest.Config) -> str:
        mode = (
            "dry-run: plans only"
            if self.dry_run
            else ("system changes allowed" if self.allow_system else "user/project scope only")
        )
        return f"podshift --fix-issues ({mode}); journal {self.journal.path}"


def configure(config: pytest.Config) -> None:
    """Register the runner when --fix-issues is given; fixing runs serially."""
    if not config.getoption("podshift_fix_issues"):
        if config.getoption("podshift_dry_run") and not stepping.action_of(config)[0]:
            raise pytest.UsageError("--dry-run goes with --fix-issues, --migrate, --rollback or --recover")
        return
    if getattr(config.option, "numprocesses", None):
        # xdist's pytest_configure is trylast: switching it off here keeps the run in-process.
        config.option.numprocesses = None
        config.option.dist = "no"
    if not hasattr(config, "workerinput"):
        config.pluginmanager.register(FixRunner(config), "podshift-fixing")
