"""``podshift rollback``: Podman -> Docker in the seed's seven steps, then the post_rollback checks.

The steps (``pytest_podshift_steps`` for action ``rollback``: podshift's own in
``remediations/rollback/``) run as items before the ``post_rollback`` checks, in
one pytest session; the log is ``reports/rollback.log`` and the HTML, JUnit and
JSON reports show steps and checks together.  Interactive by default: the plan
(a ``--dry-run`` session) is printed and a typed ``yes`` is asked on a terminal;
no terminal and no ``--force`` refuses before anything changes.  ``--verify-only``
checks the prerequisites and prints the plan, changing nothing
(:mod:`podshift.rollback.command`).
"""

from __future__ import annotations

import argparse

from podshift.cli import Verb, project_dir_of, run_checks_session
from podshift.compose.model import ComposeProject


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--force", action="store_true", help="do not ask for confirmation (needed without a terminal)")
    parser.add_argument("--keep-data", action="store_true", help="carry the data written under Podman back to Docker")
    parser.add_argument("--verify-only", action="store_true", help="check the prerequisites, print the plan; no change")
    parser.add_argument("--cleanup", action="store_true", help="remove the Podman side once the rollback verified")
    parser.add_argument(
        "--trust-backup", action="store_true", help="restore from a backup whose signature cannot be checked here"
    )


def _load(args: argparse.Namespace) -> ComposeProject:
    """The project; when its compose file is gone, from the backup's copy (the restore step puts it back)."""
    from pathlib import Path

    from podshift.rollback.project import load_for_rollback

    files = [str(Path(f).expanduser().resolve()) for f in args.compose_files]
    return load_for_rollback(project_dir_of(args), compose_files=files, project_name=args.project_name)


def _run(args: argparse.Namespace) -> int:
    from podshift.rollback import command

    flags = ("keep_data", "force", "cleanup", "trust_backup")
    options = ["--rollback"] + ["--" + f.replace("_", "-") for f in flags if getattr(args, f)]

    def session(dry_run: bool) -> int:
        if dry_run:  # the plan: every step's, printed; nothing changes and no report is left
            plan = argparse.Namespace(**{**vars(args), "html": False, "junit": False, "json": False})
            dry = [*options, "--dry-run"]
            return run_checks_session(plan, markers="post_rollback", options=dry, report_stem="plan")
        args.html = args.junit = args.json = True  # every rollback leaves its reports: steps and checks
        return run_checks_session(args, markers="post_rollback", options=options, report_stem="rollback")

    return command.run(args.project, command.RollbackFlags.of(args), session)


VERB = Verb(
    name="rollback",
    help="bring the project back from Podman to Docker (seven steps, every byte verified), resumable",
    example="cd ~/my-app && podshift rollback --verify-only --keep-data && podshift rollback --keep-data",
    add_arguments=_arguments,
    run=_run,
    order=40,
    runs_checks=True,
    load=_load,
)
