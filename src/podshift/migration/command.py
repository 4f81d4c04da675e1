"""``podshift migrate``: one pytest session, the migration's steps as items, then ``checks -m post_migration``.

The log goes to ``reports/migrate.log`` (the step runner writes it), with
HTML, JUnit and JSON reports of steps and checks beside it.  ``--dry-run``
prints every step's plan and changes nothing.  With ``--auto-rollback`` a
failed migration is followed by ``podshift rollback --force`` (the
prerequisites step refuses the option up front when no plugin provides
rollback steps).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
REPORT_STEM = "migrate"


@dataclass(frozen=True)
class MigrateRequest:
    project_dir: Path
    checks: Path  # podshift's checks/ directory
    rootdir: Path
    reports: Path
    dry_run: bool = False
    auto_rollback: bool = False
    use_backup: bool = False
    rootless_user: str | None = None

    def _common(self) -> list[str]:
        argv = ["--project-dir", str(self.project_dir), "--rootdir", str(self.rootdir), "-p", "no:cacheprovider"]
        if self.rootless_user:
            argv += ["--rootless-user", self.rootless_user]
        return argv

    def session_argv(self) -> list[str]:
        argv = [str(self.checks), "-m", "post_migration", "--migrate", *self._common()]
        for flag in ("auto_rollback", "use_backup"):
            if getattr(self, flag):
                argv.append("--" + flag.replace("_", "-"))
        if self.dry_run:
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

    def rollback_argv(self) -> list[str]:
        return [str(self.checks), "-m", "post_rollback", "--rollback", "--force", *self._common(), "-v"]


def _session(argv: Sequence[str]) -> int:
    code = pytest.main(list(argv))
    if code == pytest.ExitCode.OK:
        return EXIT_OK
    if code == pytest.ExitCode.USAGE_ERROR:
        return EXIT_USAGE
    return EXIT_FAILED


def run(request: MigrateRequest) -> int:
    """The whole verb; exit 0 migrated (or nothing to do), 1 failed, 2 usage error."""
    code = _session(request.session_argv())
    if code == EXIT_FAILED and request.auto_rollback and not request.dry_run:
        print("podshift migrate: FAILED; --auto-rollback: rolling back to Docker")
        _session(request.rollback_argv())
    return code
