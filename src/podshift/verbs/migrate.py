"""``podshift migrate``: Docker -> Podman as steps, then the post_migration checks, in one pytest session.

The steps (``pytest_podshift_steps`` for action ``migrate``: podshift's own in
``remediations/migrate/`` and any a third party adds) run as items before the
``post_migration`` checks; the log is ``reports/migrate.log`` and the HTML,
JUnit and JSON reports show steps and checks together.  With
``--auto-rollback`` a migration that failed once Docker was stopped is followed
by ``podshift rollback --force`` (the first step refuses the option when no
plugin provides rollback steps, before anything changes); without it, such a
failure ends with the ``podshift rollback`` command to run.  The last line says
at which step the migration failed and, when it ran, how the rollback ended.
"""

from __future__ import annotations

import argparse

from podshift.cli import EXIT_FAILED, EXIT_OK, Verb, run_checks_session
from podshift.steps import JournalCorrupt, StepJournal

#: The step from which Docker no longer serves: a failure from there on is one a rollback undoes.
STOP_STEP = "stop-docker"


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
    if code != EXIT_FAILED or args.dry_run:
        return code
    failed, docker_stopped, interrupted = _where_it_stopped(args)
    if interrupted:  # Ctrl-C/SIGTERM: the step's line says to run the same command again; no rollback unasked
        return code
    at = f"at step {failed}" if failed else "(no step failed: a post_migration check did)"
    user = getattr(args, "rootless_user", None)
    rollback = f"podshift rollback --project-dir {args.project.project_dir}" + (
        f" --rootless-user {user}" if user else ""
    )
    if not docker_stopped:
        if args.auto_rollback:  # the step's own line said why; here, why --auto-rollback did nothing
            print(f"podshift migrate: FAILED {at}; Docker was never stopped and still serves: nothing to roll back")
        return code
    if not args.auto_rollback:
        print(
            f"podshift migrate: FAILED {at} after Docker was stopped; to bring the stack back under Docker run "
            f"`{rollback}` (or fix the cause and run `podshift migrate` again)"
        )
        return code
    print(f"podshift migrate: FAILED {at}; --auto-rollback: rolling back to Docker")
    rolled = run_checks_session(
        args, markers="post_rollback", options=["--rollback", "--force"], report_stem="rollback"
    )
    if rolled == EXIT_OK:
        outcome = "the rollback ran and succeeded: the stack runs under Docker again"
    else:
        outcome = (
            f"the rollback ran and FAILED (exit {rolled}; see reports/rollback.log): fix its cause and run "
            f"`{rollback}` again"
        )
    print(f"podshift migrate: FAILED {at}; --auto-rollback: {outcome}")
    return code


def _where_it_stopped(args: argparse.Namespace) -> tuple[str | None, bool, bool]:
    """(the step the journal says failed, whether Docker's stack was (being) stopped, whether it was interrupted)."""
    try:
        journal = StepJournal.open(args.project.project_dir, "migrate")
    except JournalCorrupt:
        return None, True, False  # cannot tell: say what a stopped stack needs
    steps = journal.steps()
    failed = next((name for name, e in steps.items() if e.get("state") == "failed"), None)
    stopped = steps.get(STOP_STEP, {}).get("state") in ("running", "done", "failed")
    interrupted = failed is not None and str(steps[failed].get("error", "")).startswith("interrupted")
    return failed, stopped, interrupted


VERB = Verb(
    name="migrate",
    help="move the project from Docker to Podman (rootful, or --rootless-user's), verified and resumable",
    example="cd ~/my-app && podshift migrate --dry-run && podshift migrate --rootless-user app",
    add_arguments=_arguments,
    run=_run,
    order=30,
    runs_checks=True,
)
