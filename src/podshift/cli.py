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
from podshift.errors import PodshiftError, ProjectError
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
    backup = verbs.add_parser("backup", parents=[common], help="back up the project to <project>/.docker-backup/")
    backup.add_argument("--include-data", action="store_true", help="also the named volumes and bind-mounted data")
    backup.add_argument("--force", action="store_true", help="replace an existing backup (after the new one verifies)")
    backup.add_argument("--verify-only", action="store_true", help="list what would be backed up; write nothing")
    backup.add_argument("--verify", action="store_true", help="check an existing backup against its manifest")
    backup.add_argument("--engine", choices=["docker", "podman"], default="docker", help="where the volumes are")
    backup.add_argument(
        "--allow-fewer-volumes",
        action="store_true",
        help="accept a backup holding fewer volumes than the compose model declares or than the one it replaces",
    )
    backup.add_argument(
        "--trust-backup",
        action="store_true",
        help="with --verify: accept a backup whose signature cannot be checked here (another host, or a new key)",
    )
    migrate = verbs.add_parser("migrate", parents=[common], help="move the project from Docker to Podman, verified")
    migrate.add_argument("--dry-run", action="store_true", help="print every step's plan; change nothing")
    migrate.add_argument("--auto-rollback", action="store_true", help="roll back on its own when a step fails")
    migrate.add_argument("--rootless-user", metavar="USER", help="migrate to USER's rootless Podman")
    migrate.add_argument("--use-backup", action="store_true", help="use the existing backup (it must verify)")
    rollback = verbs.add_parser(
        "rollback", parents=[common], help="bring the project back from Podman to Docker (seven steps, verified)"
    )
    rollback.add_argument("--force", action="store_true", help="do not ask for confirmation (needed without a TTY)")
    rollback.add_argument("--keep-data", action="store_true", help="carry the data written under Podman back")
    rollback.add_argument("--verify-only", action="store_true", help="check the prerequisites, print the plan")
    rollback.add_argument("--cleanup", action="store_true", help="remove the Podman side once the rollback verified")
    rollback.add_argument("--rootless-user", metavar="USER", help="the user whose rootless Podman holds the project")
    rollback.add_argument(
        "--trust-backup", action="store_true", help="restore from a backup whose signature cannot be checked here"
    )
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


def _backup(args: argparse.Namespace) -> int:
    from podshift.backup.store import BackupStore
    from podshift.compose.model import load_project as load
    from podshift.engines import make_runtime
    from podshift.locking import project_lock
    from podshift.progress import TerminalProgress

    project_dir = (
        Path(args.project_dir).expanduser().resolve()
        if args.project_dir
        else source_root() / ("examples/phoenix-hydra")
    )
    project = load(project_dir)
    store = BackupStore(project.project_dir)
    _log_to(source_root() / "reports" / "backup.log")
    if args.verify:
        with project_lock(project.project_dir, "backup --verify"):
            problems = store.verify(trust_backup=args.trust_backup)
        for p in problems:
            print(f"podshift: backup: {p}")
        print(f"podshift: backup {store.path}: {'FAILED verification' if problems else 'verified'}")
        return EXIT_FAILED if problems else EXIT_OK
    # Only data needs the engine: a configuration backup works with the engine down.
    runtime = make_runtime(args.engine)
    try:
        if args.include_data:
            runtime.ping()
        if args.verify_only:
            items = store.plan(project, runtime if args.include_data else None, args.include_data)
            for item in items:
                flag = "  (sensitive)" if item.sensitive else ""
                print(f"{item.kind:7} {item.size:>12}  {item.name}{flag}")
            print(f"total   {sum(i.size for i in items):>12}  {len(items)} item(s); nothing was written")
            return EXIT_OK
        progress = TerminalProgress()
        with project_lock(project.project_dir, "backup"):
            manifest = store.create(
                project,
                runtime if args.include_data else None,
                include_data=args.include_data,
                force=args.force,
                progress=progress,
                allow_fewer_volumes=args.allow_fewer_volumes,
            )
        progress.finish()
    finally:
        runtime.close()
    sensitive = [c.source for c in manifest.config if c.sensitive]
    print(f"podshift: backup written and verified: {store.path}")
    print(
        f"  {len(manifest.config)} configuration file(s), {len(manifest.archives)} archive(s), "
        f"{sum(a.size for a in manifest.archives)} bytes of data"
    )
    if sensitive:
        print(f"  sensitive files (secrets, .env): {', '.join(sensitive)}")
    return EXIT_OK


def _migrate(args: argparse.Namespace) -> int:
    from podshift.migration.command import MigrateRequest, run
    from podshift.paths import default_reports_dir

    project_dir = (
        Path(args.project_dir).expanduser().resolve() if args.project_dir else source_root() / "examples/phoenix-hydra"
    )
    request = MigrateRequest(
        project_dir=project_dir,
        checks=checks_dir(),
        rootdir=source_root(),
        reports=default_reports_dir(),
        dry_run=args.dry_run,
        auto_rollback=args.auto_rollback,
        use_backup=args.use_backup,
        rootless_user=args.rootless_user,
    )
    return run(request)


def _rollback(args: argparse.Namespace) -> int:
    from podshift.paths import default_reports_dir
    from podshift.rollback import command

    project_dir = Path(args.project_dir).expanduser().resolve() if args.project_dir else Path.cwd()
    request = command.RollbackRequest(
        project_dir=project_dir,
        checks=checks_dir(),
        rootdir=source_root(),
        reports=default_reports_dir(),
        force=args.force,
        keep_data=args.keep_data,
        verify_only=args.verify_only,
        cleanup=args.cleanup,
        trust_backup=args.trust_backup,
        rootless_user=args.rootless_user,
    )
    return command.run(request)


def _log_to(path: Path) -> None:
    """Every action leaves a readable log in reports/."""
    import logging

    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    root = logging.getLogger("podshift")
    root.setLevel(logging.INFO)
    root.addHandler(handler)


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
            # One clear line for a bad project, before any work (a rollback also works when the
            # compose file is gone and the backup holds it).
            if args.verb == "rollback":
                from podshift.rollback.project import load_for_rollback

                load_for_rollback(args.project_dir)
            else:
                load_project(args.project_dir)
        if args.verb == "validate":
            return _validate(args)
        if args.verb == "fixes":
            return _fixes(args.action)
        if args.verb == "backup":
            return _backup(args)
        if args.verb == "migrate":
            return _migrate(args)
        if args.verb == "rollback":
            return _rollback(args)
    except ProjectError as e:  # the --project-dir given is not a usable project: the user's input
        print(f"podshift: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except PodshiftError as e:  # the action could not be done (engine down, lock held, disk full ...)
        print(f"podshift: error: {e}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("podshift: interrupted", file=sys.stderr)
        return EXIT_FAILED
    raise AssertionError(f"unhandled verb {args.verb}")  # argparse only accepts known verbs


if __name__ == "__main__":
    sys.exit(main())
