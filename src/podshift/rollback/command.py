"""``podshift rollback``: Podman -> Docker in the seed's seven steps, then the post_rollback checks.

Interactive by default: the plan (every step's, from a ``--dry-run`` session
that changes nothing) is printed and a typed ``yes`` is asked on a terminal.
Without a terminal and without ``--force`` it refuses before anything
changes.  ``--verify-only`` checks the rollback's prerequisites, prints the
plan and changes nothing.  The real run is one pytest session: the steps as
items, then ``checks -m post_rollback``; the log goes to
``reports/rollback.log``, with HTML, JUnit and JSON reports beside it
(the session itself is the CLI's, :func:`podshift.cli.run_checks_session`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass

from podshift.compose.model import ComposeProject
from podshift.engines import podman_runtime_for, podman_user
from podshift.rollback.preflight import prerequisites
from podshift.runtimes.docker import DockerRuntime

EXIT_OK, EXIT_FAILED = 0, 1
#: Runs the rollback's pytest session (``dry_run``: plans only) and returns the CLI exit code.
Session = Callable[[bool], int]


@dataclass(frozen=True)
class RollbackFlags:
    force: bool = False
    keep_data: bool = False
    verify_only: bool = False

    @classmethod
    def of(cls, args: argparse.Namespace) -> RollbackFlags:
        return cls(force=args.force, keep_data=args.keep_data, verify_only=args.verify_only)


def verify_only(
    project: ComposeProject, flags: RollbackFlags, session: Session, out: Callable[[str], None] = print
) -> int:
    """Check the prerequisites and print the plan; change nothing."""
    docker = DockerRuntime()
    podman = podman_runtime_for(podman_user())
    try:
        findings = prerequisites(project, docker, podman, keep_data=flags.keep_data)
    finally:
        docker.close()
        podman.close()
    out(f"podshift rollback --verify-only: {project.name} ({project.project_dir})")
    for f in findings:
        out(f"  {f.render()}")
    failed = [f for f in findings if not f.ok]
    out("the plan (nothing was changed):")
    session(True)
    verdict = "READY" if not failed else f"NOT READY ({len(failed)} problem(s))"
    out(f"podshift rollback prerequisites: {verdict}")
    return EXIT_OK if not failed else EXIT_FAILED


def run(
    project: ComposeProject,
    flags: RollbackFlags,
    session: Session,
    *,
    interactive: bool | None = None,
    ask: Callable[[str], str] = input,
    out: Callable[[str], None] = print,
) -> int:
    """The whole verb: verify-only, or confirm (unless --force) and roll back."""
    if flags.verify_only:
        return verify_only(project, flags, session, out)
    interactive = sys.stdin.isatty() if interactive is None else interactive
    if not flags.force:
        if not interactive:
            out(
                "podshift rollback: refusing: no terminal to confirm on, and --force was not given "
                "(nothing was changed). Review the plan with `podshift rollback --verify-only`, "
                "then run `podshift rollback --force`."
            )
            return EXIT_FAILED
        out("podshift rollback: the plan")
        code = session(True)
        if code != EXIT_OK:
            return code
        try:
            answer = ask("Roll back to Docker now? Type 'yes' to go on: ")
        except EOFError:
            answer = ""
        if answer.strip() != "yes":
            out("podshift rollback: not confirmed; nothing was changed")
            return EXIT_FAILED
    return session(False)
