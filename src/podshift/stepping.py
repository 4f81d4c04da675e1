"""Actions (migrate, rollback, recover) as pytest sessions: steps first, then the checks that prove them.

With ``--migrate``, ``--rollback`` or ``--recover SCENARIO`` the plugin asks every
plugin for its steps (``pytest_podshift_steps``), orders them, and puts one
:class:`StepItem` per step in front of the checks that ``-m`` selected.  So the
terminal, pytest-html, JUnit and JSON show each step with its outcome and
duration beside the checks.  Steps run serially (xdist is switched off, as for
``--fix-issues``), under the project lock, journaled in
``<project>/.podshift/<action>.json``:

- an earlier step failed: the step is skipped, "not run: step X failed";
- ``--dry-run``: the step's plan is shown, nothing runs (outcome ``planned``);
- the journal says done and :meth:`Step.done` agrees: ``already-done``;
- otherwise: journaled ``running``, run, journaled ``done`` or ``failed``.

Checks after a failed step (or in a dry run) are skipped with the reason.  The
action's own line is printed last: ``podshift migrate: DONE``, ``FAILED at step
X``, ``NOTHING TO DO`` or ``PLANNED``.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from podshift.errors import PodshiftError
from podshift.outcomes import P_MESSAGE, P_OUTCOME, P_TITLE
from podshift.paths import default_reports_dir
from podshift.progress import TerminalProgress
from podshift.steps import (
    DONE,
    FAILED,
    RUNNING,
    SCENARIOS,
    ActionOptions,
    Step,
    StepContext,
    StepFailed,
    StepJournal,
    StepOrderError,
    collect_steps,
    journal_name,
    summarize,
)
from podshift.stopping import Interrupted

P_STEP, P_PLAN = "step", "step_plan"
#: Outcomes a step can have, with the terminal's letter and word.
STEP_STATUS = {
    "done": ("done", "S", "DONE"),
    "already-done": ("already done", "=", "ALREADY DONE"),
    "planned": ("planned", "P", "PLANNED"),
}


def addoption(group: Any) -> None:
    """The action options, in podshift's option group (called from the plugin's ``pytest_addoption``)."""
    group.addoption(
        "--migrate",
        dest="podshift_action",
        action="store_const",
        const="migrate",
        help="run the migration steps (Docker -> Podman) before the selected checks",
    )
    group.addoption(
        "--rollback",
        dest="podshift_action",
        action="store_const",
        const="rollback",
        help="run the rollback steps (Podman -> Docker) before the selected checks",
    )
    group.addoption(
        "--recover",
        dest="podshift_scenario",
        metavar="SCENARIO",
        choices=SCENARIOS,
        help=f"run a recovery scenario's steps ({', '.join(SCENARIOS)})",
    )
    group.addoption(
        "--keep-data",
        dest="podshift_keep_data",
        action="store_true",
        help="rollback: carry the data written under Podman back into Docker's volumes",
    )
    group.addoption("--force", dest="podshift_force", action="store_true", help="rollback: do not ask for confirmation")
    group.addoption(
        "--cleanup",
        dest="podshift_cleanup",
        action="store_true",
        help="rollback: remove the project's Podman volumes and carried images once verified",
    )
    group.addoption(
        "--auto-rollback",
        dest="podshift_auto_rollback",
        action="store_true",
        help="migrate: roll back on its own when a step fails",
    )
    group.addoption(
        "--use-backup",
        dest="podshift_use_backup",
        action="store_true",
        help="migrate: use the existing backup (it must verify) instead of taking a fresh one",
    )
    group.addoption(
        "--trust-backup",
        dest="podshift_trust_backup",
        action="store_true",
        help="restore from a backup whose signature cannot be checked on this host",
    )
    group.addoption(
        "--rootless-user",
        dest="podshift_rootless_user",
        metavar="USER",
        default=None,
        help="the user whose rootless Podman is the target (default $PODSHIFT_ROOTLESS_USER)",
    )


def action_of(config: pytest.Config) -> tuple[str | None, str | None]:
    """The session's action and scenario: (``migrate``, None), (``recover``, ``diagnose``), (None, None)."""
    scenario = config.getoption("podshift_scenario", None)
    action = config.getoption("podshift_action", None)
    if scenario and action:
        raise pytest.UsageError(f"--{action} and --recover cannot run in one session")
    if scenario:
        return "recover", str(scenario)
    return (str(action) if action else None), None


def options_of(config: pytest.Config) -> ActionOptions:
    return ActionOptions(
        dry_run=bool(config.getoption("podshift_dry_run", False)),
        keep_data=bool(config.getoption("podshift_keep_data", False)),
        force=bool(config.getoption("podshift_force", False)),
        cleanup=bool(config.getoption("podshift_cleanup", False)),
        verify_only=bool(config.getoption("podshift_verify_only", False)),
        auto_rollback=bool(config.getoption("podshift_auto_rollback", False)),
        use_backup=bool(config.getoption("podshift_use_backup", False)),
        trust_backup=bool(config.getoption("podshift_trust_backup", False)),
        rootless_user=config.getoption("podshift_rootless_user", None) or os.environ.get("PODSHIFT_ROOTLESS_USER"),
    )


def reports_dir_of(config: pytest.Config) -> Path:
    chosen = config.getoption("podshift_reports_dir", None)
    return Path(str(chosen)) if chosen else default_reports_dir()


class StepItem(pytest.Item):
    """One step of the session's action, as a pytest item."""

    def __init__(self, *, step: Step, runner: StepRunner, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.step = step
        self.runner = runner
        self.user_properties.append((P_STEP, step.name))
        self.user_properties.append((P_TITLE, step.title))

    def runtest(self) -> None:
        self.runner.run_step(self)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"{self.step.action} step {self.step.name}: {self.step.title}"

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, PodshiftError):
            return f"step {self.step.name} failed: {excinfo.value}"
        return str(super().repr_failure(excinfo, style=style))


class StepRunner:
    """Collects, orders and runs the steps of one action; reports its outcome last."""

    def __init__(self, config: pytest.Config, action: str, scenario: str | None) -> None:
        self.config = config
        self.action = action
        self.scenario = scenario
        self.options = options_of(config)
        self.outcomes: dict[str, str] = {}
        self.plans: dict[str, str] = {}  # step -> rendered plan (--dry-run)
        self.results: dict[str, str] = {}  # step -> its result line, when it ran (what it did, e.g. removed)
        self.failed: tuple[str, str, str] | None = None  # (step, reason, hint)
        self.ctx: StepContext | None = None
        self._lock: contextlib.ExitStack | None = None

    @property
    def label(self) -> str:
        return f"{self.action} {self.scenario}" if self.scenario else self.action

    @property
    def resume(self) -> str:
        """What to do after a step stopped without its own advice."""
        return f"run the same `podshift {self.label}` again: it resumes from this step"

    # -- collection ---------------------------------------------------------------------
    @pytest.hookimpl(trylast=True)  # after -m/-k deselection: steps always run
    def pytest_collection_modifyitems(self, session: pytest.Session, items: list[pytest.Item]) -> None:
        provided = self.config.hook.pytest_podshift_steps(
            config=self.config, action=self.action, scenario=self.scenario
        )
        try:
            steps = collect_steps(provided, self.action, self.scenario)
        except StepOrderError as e:
            raise pytest.UsageError(f"podshift {self.label}: {e}") from None
        if not steps:
            raise pytest.UsageError(f"podshift {self.label}: no plugin provides any step")
        step_items = [
            StepItem.from_parent(
                session,
                name=s.name,
                nodeid=f"{journal_name(self.action, self.scenario)}::{s.name}",
                step=s,
                runner=self,
            )
            for s in steps
        ]
        items[:0] = step_items

    # -- running ------------------------------------------------------------------------
    @pytest.hookimpl(wrapper=True)
    def pytest_runtestloop(self, session: pytest.Session) -> Generator[None, object, object]:
        if session.config.option.collectonly:
            return (yield)
        from podshift.locking import project_lock
        from podshift.plugin import require_project

        project = require_project(self.config)
        with contextlib.ExitStack() as stack:
            try:
                stack.enter_context(project_lock(project.project_dir, self.label))
                journal = StepJournal.open(project.project_dir, journal_name(self.action, self.scenario))
            except PodshiftError as e:
                raise pytest.UsageError(f"podshift {self.label}: {e}") from None
            self.ctx = StepContext(
                config=self.config,
                project=project,
                action=self.action,
                scenario=self.scenario,
                journal=journal,
                options=self.options,
                progress=TerminalProgress(),
                log=self._logger(),
            )
            stack.callback(self.ctx.close)
            if not self.options.dry_run:
                from podshift.cycles import begin_cycle

                steps = [item.step for item in session.items if isinstance(item, StepItem)]
                begin_cycle(self.ctx, steps)  # a new migrate -> rollback cycle starts from fresh journals
            result = yield
            if self.failed is None and not self.options.dry_run and self.outcomes:
                journal.finish()
            return result

    def _logger(self) -> logging.Logger:
        log = logging.getLogger(f"podshift.{self.action}")
        log.setLevel(logging.INFO)
        if not hasattr(self.config, "workerinput"):
            path = reports_dir_of(self.config) / f"{journal_name(self.action, self.scenario)}.log"
            path.parent.mkdir(parents=True, exist_ok=True)
            handler = logging.FileHandler(path)
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
            log.addHandler(handler)

            def close() -> None:
                log.removeHandler(handler)
                handler.close()

            self.config.add_cleanup(close)
        return log

    def run_step(self, item: StepItem) -> None:
        step, ctx = item.step, self.ctx
        if ctx is None:
            raise RuntimeError("a step ran outside the session's run loop")
        if self.failed is not None:
            pytest.skip(f"not run: step {self.failed[0]} failed")
        ctx.step = step.name
        if self.options.dry_run:
            rendered = step.plan(ctx).render()
            item.user_properties.append((P_PLAN, rendered))
            self.plans[step.name] = rendered
            self._finish(item, "planned", rendered)
            return
        if ctx.journal.state(step.name) == DONE and step.done(ctx):
            self._finish(item, "already-done", str(ctx.journal.steps()[step.name].get("result", "")))
            return
        ctx.log.info("step %s: %s", step.name, step.title)
        ctx.journal.mark(step.name, RUNNING)
        try:
            result = step.run(ctx) or ""
        except StepFailed as e:
            self._failed(step, e.reason, e.hint)
            raise
        except (KeyboardInterrupt, Interrupted) as e:
            # Ctrl-C (or SIGTERM while containers were stopped): the journal says where, the rerun resumes.
            self._failed(step, "interrupted" + (f" ({e})" if isinstance(e, Interrupted) else " (Ctrl-C)"), self.resume)
            raise
        except PodshiftError as e:
            self._failed(step, str(e), self.resume)
            raise
        except BaseException as e:
            # Anything else (a bug): journaled as failed so the next run knows where it stopped.
            self._failed(step, f"{type(e).__name__}: {e}", self.resume)
            raise
        finally:
            ctx.progress.finish()
        ctx.journal.mark(step.name, DONE, result=result)
        ctx.log.info("step %s done: %s", step.name, result)
        self.results[step.name] = result
        self._finish(item, "done", result)

    def _failed(self, step: Step, reason: str, hint: str) -> None:
        self.failed = (step.name, reason, hint)
        self.outcomes[step.name] = "failed"
        if self.ctx is not None:
            self.ctx.journal.mark(step.name, FAILED, error=reason)
            self.ctx.log.error("step %s failed: %s", step.name, reason)

    def _finish(self, item: StepItem, outcome: str, message: str) -> None:
        self.outcomes[item.step.name] = outcome
        item.user_properties.append((P_OUTCOME, outcome))
        item.user_properties.append((P_MESSAGE, message))

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        if isinstance(item, StepItem):
            return
        if self.failed is not None:
            pytest.skip(f"not run: step {self.failed[0]} failed")
        if self.options.dry_run:
            pytest.skip("not run: --dry-run changes nothing, so there is nothing to check")

    # -- reporting -------------------------------------------------------------------
    def pytest_report_teststatus(self, report: pytest.TestReport) -> tuple[str, str, str] | None:
        if report.when != "call" or not report.passed:
            return None
        outcome = dict(report.user_properties).get(P_OUTCOME)
        return STEP_STATUS.get(str(outcome)) if outcome else None

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if hasattr(self.config, "workerinput") or not self.outcomes:
            return
        terminalreporter.section(f"podshift {self.label}")
        for name, outcome in self.outcomes.items():
            terminalreporter.write_line(f"{outcome.upper():13} {name}")
            for line in (self.plans.get(name) or self.results.get(name, "")).splitlines():
                terminalreporter.write_line(f"    {line}")
        if self.failed is not None:
            step, reason, hint = self.failed
            terminalreporter.write_line(f"step {step} failed: {reason}", red=True)
            if hint:
                terminalreporter.write_line(f"next: {hint}")

    def outcome_line(self) -> str:
        if self.failed is not None:
            step, reason, hint = self.failed
            first = reason.splitlines()[0] if reason else ""
            return f"podshift {self.label}: FAILED at step {step}: {first}" + (f"; next: {hint}" if hint else "")
        if self.options.dry_run:
            return f"podshift {self.label}: PLANNED ({len(self.outcomes)} steps; --dry-run changed nothing)"
        if self.outcomes and all(o == "already-done" for o in self.outcomes.values()):
            return f"podshift {self.label}: NOTHING TO DO (every step was already done)"
        return f"podshift {self.label}: DONE ({summarize(self.outcomes)})"

    @pytest.hookimpl(trylast=True)
    def pytest_unconfigure(self, config: pytest.Config) -> None:
        if hasattr(config, "workerinput") or not self.outcomes:
            return
        tr = config.pluginmanager.get_plugin("terminalreporter")
        if tr is not None:
            tr.write_line(self.outcome_line(), bold=True, red=self.failed is not None, green=self.failed is None)


def configure(config: pytest.Config) -> StepRunner | None:
    """Register the step runner when the session has an action; actions run serially."""
    action, scenario = action_of(config)
    if action is None:
        return None
    if getattr(config.option, "numprocesses", None):
        config.option.numprocesses = None
        config.option.dist = "no"
    if hasattr(config, "workerinput"):
        return None
    runner = StepRunner(config, action, scenario)
    config.pluginmanager.register(runner, "podshift-steps")
    return runner
