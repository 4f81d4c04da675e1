"""``podshift validate``: the prerequisite checks (readiness), optionally fixing what fails."""

from __future__ import annotations

import argparse

from podshift.cli import Verb, run_checks_session


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--verify-only", action="store_true", help="list the checks that would run, run none")
    parser.add_argument("--fix-issues", action="store_true", help="apply each failed check's fix, then re-check")
    parser.add_argument("--dry-run", action="store_true", help="with --fix-issues: show the changes, make none")
    parser.add_argument("--allow-system-changes", action="store_true", help="with --fix-issues: system scope too")


def _run(args: argparse.Namespace) -> int:
    # Every action leaves a report: the text report is always written (--export-report is implied).
    args.export_report = not args.verify_only
    options = [
        "--" + flag.replace("_", "-")
        for flag in ("fix_issues", "dry_run", "allow_system_changes")
        if getattr(args, flag)
    ]
    return run_checks_session(
        args, markers="prerequisites", options=options, report_stem="readiness", collect_only=args.verify_only
    )


VERB = Verb(
    name="validate",
    help="run the prerequisite checks: is this host ready to move this project to Podman?",
    example="cd ~/my-app && podshift validate --html",
    add_arguments=_arguments,
    run=_run,
    order=10,
    runs_checks=True,
)
