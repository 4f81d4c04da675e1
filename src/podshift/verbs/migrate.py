"""``podshift migrate``: Docker -> Podman as steps, then the post_migration checks, in one pytest session.

The steps (``pytest_podshift_steps`` for action ``migrate``: podshift's own in
``remediations/migrate/`` and any a third party adds) run as items before the
``post_migration`` checks; the log is ``reports/migrate.log`` and the HTML,
JUnit and JSON reports show steps and checks together.  With
``--auto-rollback`` a failed migration is followed by ``podshift rollback
--force`` (the first step refuses the option when no plugin provides rollback
steps, before anything changes).
"""

from __future__ import annotations

import argparse

from podshift.cli import EXIT_FAILED, Verb, run_checks_session


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dry-run", action="store_true", help="print every step's plan; change nothing")
    parser.add_argument("--auto-rollback", action="store_true", help="roll back to Docker when a step fails")
    parser.add_argument("--use-backup", action="store_true", help="use the existing backup (it must verify)")


def _run(args: argparse.Namespace) -> int:
    options = ["--migrate"] + [
        "--" + flag.replace("_", "-") for flag in ("dry_run", "auto_rollback", "use_backup") if getattr(args, flag)
    ]
    if not args.dry_run:  # every migration leaves its reports: steps and checks, for people and machines
        args.html = args.junit = args.json = True
    code = run_checks_session(args, markers="post_migration", options=options, report_stem="migrate")
    if code == EXIT_FAILED and args.auto_rollback and not args.dry_run:
        print("podshift migrate: FAILED; --auto-rollback: rolling back to Docker")
        run_checks_session(args, markers="post_rollback", options=["--rollback", "--force"], report_stem="rollback")
    return code


VERB = Verb(
    name="migrate",
    help="move the project from Docker to Podman (rootful, or --rootless-user's), verified and resumable",
    example="cd ~/my-app && podshift migrate --dry-run && podshift migrate --rootless-user app",
    add_arguments=_arguments,
    run=_run,
    order=30,
    runs_checks=True,
)
