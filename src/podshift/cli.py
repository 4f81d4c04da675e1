"""``podshift``: the command line.  Each verb runs a pytest session or an action.

Exit codes (shared across verbs): 0 success, 1 the action failed (or the
verdict is NOT READY), 2 usage error — a bad project, a missing tool, an
engine that is down — always with one clear line and never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from podshift import __version__
from podshift.compose.model import load_project
from podshift.errors import PodshiftError
from podshift.journal import Journal, journal_path

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def source_root() -> Path:
    """The podshift checkout this command runs from (checks/ and remediations/ live there)."""
    return Path(__file__).resolve().parents[2]


def checks_dir() -> Path:
    path = source_root() / "checks"
    if not path.is_dir():
        raise PodshiftError(
            f"podshift's checks/ directory was not found at {path}; install podshift from its "
            "source tree (pip install -e .), as the README shows"
        )
    return path


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="podshift", description="Move a Docker Compose application to Podman.")
    parser.add_argument("--version", action="version", version=f"podshift {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--project-dir", metavar="DIR", help="the Compose project (default: the bundled example)")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    validate = verbs.add_parser("validate", parents=[common], help="run the prerequisite checks (readiness)")
    validate.add_argument("--verify-only", action="store_true", help="list the checks that would run, run none")
    validate.add_argument(
        "--export-report", action="store_true", help="write reports/migration-prerequisites-report.txt"
    )
    validate.add_argument("--detailed", action="store_true", help="show the evidence of every check, passed ones too")
    validate.add_argument("--fail-on-warnings", action="store_true", help="exit 1 on READY WITH WARNINGS")
    validate.add_argument("--html", action="store_true", help="also write reports/readiness.html")
    validate.add_argument("--fix-issues", action="store_true", help="apply each failed check's fix, then re-check")
    validate.add_argument("--dry-run", action="store_true", help="with --fix-issues: show the changes, make none")
    validate.add_argument("--allow-system-changes", action="store_true", help="with --fix-issues: system scope too")
    validate.add_argument("pytest_args", nargs=argparse.REMAINDER, help="further pytest options after --")
    fixes = verbs.add_parser(
        "fixes", parents=[common], help="list or revert the fixes podshift applied (reports/fixes-journal.json)"
    )
    fixes.add_argument("action", choices=["list", "revert"])
    return parser


def _validate(args: argparse.Namespace) -> int:
    checks = checks_dir()
    argv = [str(checks), "-m", "prerequisites", "--rootdir", str(source_root())]
    if args.project_dir:
        argv += ["--project-dir", str(Path(args.project_dir).expanduser().resolve())]
    if args.verify_only:
        argv += ["--collect-only", "-q"]
    for flag in ("export_report", "detailed", "fail_on_warnings", "fix_issues", "dry_run", "allow_system_changes"):
        if getattr(args, flag):
            argv.append("--" + flag.replace("_", "-"))
    if args.html:
        argv += [f"--html={source_root() / 'reports' / 'readiness.html'}", "--self-contained-html"]
    argv += [a for a in args.pytest_args if a != "--"]
    code = pytest.main(argv)
    if code == pytest.ExitCode.USAGE_ERROR:
        return EXIT_USAGE
    return EXIT_OK if code == pytest.ExitCode.OK else EXIT_FAILED


def _fixes(action: str) -> int:
    journal = Journal(journal_path(source_root()))
    entries = journal.entries()
    if action == "list":
        if not entries:
            print(f"no fixes recorded in {journal.path}")
        for e in entries:
            when = datetime.fromtimestamp(e.applied_at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
            print(f"{e.id}  {when}  {e.fix} ({e.scope}): {e.summary}")
            print(f"    for {e.check}; {len(e.files)} file(s), {len(e.commands)} command(s)")
        return EXIT_OK
    if not entries:
        print(f"nothing to revert: {journal.path} records no fixes")
        return EXIT_OK
    try:
        undone = journal.revert(log=lambda line: print(f"podshift: {line}"))
    except PodshiftError as e:
        print(f"podshift: error: {e}", file=sys.stderr)
        return EXIT_FAILED
    print(f"podshift: reverted {len(undone)} fix(es); the journal is empty")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``podshift`` console script."""
    args = _parser().parse_args(argv)
    try:
        if args.project_dir:
            load_project(args.project_dir)  # one clear line for a bad project, before any work
        if args.verb == "validate":
            return _validate(args)
        if args.verb == "fixes":
            return _fixes(args.action)
    except PodshiftError as e:
        print(f"podshift: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("podshift: interrupted", file=sys.stderr)
        return EXIT_FAILED
    raise AssertionError(f"unhandled verb {args.verb}")  # argparse only accepts known verbs


if __name__ == "__main__":
    sys.exit(main())
