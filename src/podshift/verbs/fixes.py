"""``podshift fixes list|revert``: the fixes ``validate --fix-issues`` applied, from the journal."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from podshift.cli import EXIT_FAILED, EXIT_OK, Verb
from podshift.errors import PodshiftError
from podshift.journal import open_journal


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["list", "revert"])
    parser.add_argument(
        "--project-dir", metavar="DIR", help="only the fixes applied for this project (default: every project's)"
    )
    parser.add_argument(
        "--force", action="store_true", help="revert: also files edited since the fix (your version is kept aside)"
    )


def _run(args: argparse.Namespace) -> int:
    journal = open_journal()
    project = Path(args.project_dir).expanduser().resolve() if args.project_dir else None
    whose = f" for {project}" if project else ""
    entries = journal.entries(project)
    if args.action == "list":
        if not entries and not args.quiet:
            print(f"no fixes recorded{whose} in {journal.path}")
        for e in entries:
            when = datetime.fromtimestamp(e.applied_at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
            print(f"{e.id}  {when}  {e.fix} ({e.scope}): {e.summary}")
            if not args.quiet:
                print(
                    f"    for {e.check} in {e.project or '(project not recorded)'}; "
                    f"{len(e.files)} file(s), {len(e.commands)} command(s)"
                )
        return EXIT_OK
    if not entries:
        print(f"nothing to revert: {journal.path} records no fixes{whose}")
        return EXIT_OK
    try:
        undone = journal.revert(
            log=lambda line: None if args.quiet else print(f"podshift: {line}"), project=project, force=args.force
        )
    except PodshiftError as e:
        print(f"podshift: error: {e}", file=sys.stderr)
        return EXIT_FAILED
    print(f"podshift: reverted {len(undone)} fix(es){whose}; {len(journal.entries())} left in {journal.path}")
    return EXIT_OK


VERB = Verb(
    name="fixes",
    help="list or revert the fixes podshift applied (the journal in the host state directory)",
    example="podshift fixes revert --project-dir ~/my-app",
    add_arguments=_arguments,
    run=_run,
    order=90,
    targets_project=False,
)
