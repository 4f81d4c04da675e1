"""``podshift rollback``: Podman -> Docker in the seed's seven steps, then the post_rollback checks.

Interactive by default: the plan (every step's, from a ``--dry-run`` session
that changes nothing) is printed and a typed ``yes`` is asked on a terminal.
Without a terminal and without ``--force`` it refuses before anything
changes.  ``--verify-only`` checks the rollback's prerequisites, prints the
plan and changes nothing.  The real run is one pytest session: the steps as
items, then ``checks -m post_rollback``; the log goes to
``reports/rollback.log``, with HTML, JUnit and JSON reports beside it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from podshift.engines import podman_runtime_for, podman_user
from podshift.rollback.preflight import prerequisites
from podshift.rollback.project import load_for_rollback
from podshift.runtimes.docker import DockerRuntime

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
REPORT_STEM = "rollback"


@dataclass(frozen=True)
class RollbackRequest:
    project_dir: Path
    checks: Path  # podshift's checks/ directory
    rootdir: Path  # where pytest's rootdir (and so the plugin's ini) is
    reports: Path
    force: bool = False
    keep_data: bool = False
    verify_only: bool = False
    cleanup: bool = False
    trust_backup: bool = False
    rootless_user: str | None = None

    def session_argv(self, *, dry_run: bool) -> list[str]:
        argv = [str(self.checks), "-m", "post_rollback", "--rollback", "--project-dir", str(self.project_dir)]
        argv += ["--rootdir", str(self.rootdir), "-p", "no:cacheprovider"]
        for flag in ("keep_data", "force", "cleanup", "trust_backup"):
            if getattr(self, flag):
                argv.append("--" + flag.replace("_", "-"))
        if self.rootless_user:
            argv += ["--rootless-user", self.rootless_user]
        if dry_run:
            return [*argv, "--dry-run", "-q", "-rN", "-vv"]
        self.reports.mkdir(parents=True, exist_ok=True)
        stem = self.reports / REPORT_STEM
        return [
            *argv,
            "-v",
            f"--html={stem}.html",
            "--self-contained-html",
            f"--junitxml={stem}.xml",
            "--json-report",
            f"--json-report-file={stem}.json",
        ]


def _session(argv: Sequence[str]) -> int:
    code = pytest.main(list(argv))
    if code == pytest.ExitCode.OK:
        return EXIT_OK
    if code == pytest.ExitCode.USAGE_ERROR:
        return EXIT_USAGE
    return EXIT_FAILED


def verify_only(request: RollbackRequest, out: Callable[[str], None] = print) -> int:
    """Check the prerequisites and print the plan; change nothing."""
    project = load_for_rollback(request.project_dir)
    docker = DockerRuntime()
    podman = podman_runtime_for(request.rootless_user or podman_user())
    try:
        findings = prerequisites(project, docker, podman, keep_data=request.keep_data)
    finally:
        docker.close()
        podman.close()
    out(f"podshift rollback --verify-only: {project.name} ({project.project_dir})")
    for f in findings:
        out(f"  {f.render()}")
    failed = [f for f in findings if not f.ok]
    out("the plan (nothing was changed):")
    _session(request.session_argv(dry_run=True))
    verdict = "READY" if not failed else f"NOT READY ({len(failed)} problem(s))"
    out(f"podshift rollback prerequisites: {verdict}")
    return EXIT_OK if not failed else EXIT_FAILED


def run(
    request: RollbackRequest,
    *,
    interactive: bool | None = None,
    ask: Callable[[str], str] = input,
    out: Callable[[str], None] = print,
) -> int:
    """The whole verb: verify-only, or confirm (unless --force) and roll back."""
    if request.verify_only:
        return verify_only(request, out)
    interactive = sys.stdin.isatty() if interactive is None else interactive
    if not request.force:
        if not interactive:
            out(
                "podshift rollback: refusing: no terminal to confirm on, and --force was not given "
                "(nothing was changed). Review the plan with `podshift rollback --verify-only`, "
                "then run `podshift rollback --force`."
            )
            return EXIT_FAILED
        out("podshift rollback: the plan")
        code = _session(request.session_argv(dry_run=True))
        if code != EXIT_OK:
            return code
        try:
            answer = ask("Roll back to Docker now? Type 'yes' to go on: ")
        except EOFError:
            answer = ""
        if answer.strip() != "yes":
            out("podshift rollback: not confirmed; nothing was changed")
            return EXIT_FAILED
    return _session(request.session_argv(dry_run=False))
