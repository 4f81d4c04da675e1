"""``podshift recover SCENARIO``: a targeted recovery (its steps, then its diagnosis checks)."""

from __future__ import annotations

import argparse

from podshift.cli import Verb, run_checks_session
from podshift.steps import SCENARIOS


def add_recovery_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dry-run", action="store_true", help="show what each step would do, change nothing")


def run_scenario(args: argparse.Namespace, scenario: str) -> int:
    """One recovery session: ``-m recovery --recover SCENARIO`` (other scenarios' checks are deselected)."""
    options = ["--recover", scenario, *(["--dry-run"] if args.dry_run else [])]
    return run_checks_session(args, markers="recovery", options=options, report_stem="migration-recovery")


def _arguments(parser: argparse.ArgumentParser) -> None:
    scenario = parser.add_argument("scenario", choices=SCENARIOS, help="what went wrong")
    # `podshift recover SCENARIO [PROJECT_DIR]`: argparse fills positionals in the order they were
    # added, and the project's optional PROJECT_DIR was added first, so the scenario moves before it.
    actions = parser._actions
    project = next((i for i, a in enumerate(actions) if a.dest == "project_dir_arg"), None)
    if project is not None:
        actions.remove(scenario)
        actions.insert(project, scenario)
    add_recovery_arguments(parser)


def _run(args: argparse.Namespace) -> int:
    return run_scenario(args, args.scenario)


VERB = Verb(
    name="recover",
    help="targeted recovery of a stack that does not build, start, network or mount (log migration-recovery.log)",
    example="podshift recover failed-startup --dry-run",
    add_arguments=_arguments,
    run=_run,
    order=40,
    runs_checks=True,
)
