"""Step 1: the readiness checks for the target Podman, in their own pytest session; NOT READY stops."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from podshift.remediation import Plan
from podshift.steps import Step, StepContext, StepFailed

from .common import RERUN, docker, podman

#: Checks the migration's own later steps take care of (it takes the backup itself).
SKIPPED = ("test_a_verified_backup_of_the_project_exists",)


def checks_root() -> Path:
    """podshift's installed checks (``podshift.checks``)."""
    from podshift.cli import checks_dir

    return checks_dir()


class Prerequisites(Step):
    name = "prerequisites"
    title = "Run the readiness checks for the target Podman; NOT READY stops the migration"
    action = "migrate"
    order = 10

    def _argv(self, ctx: StepContext, report: Path) -> list[str]:
        root = checks_root()
        return [
            sys.executable,
            "-m",
            "pytest",
            str(root / "prerequisites"),
            "-m",
            "prerequisites",
            "--project-dir",
            str(ctx.project.project_dir),
            "-c",
            os.devnull,
            "--rootdir",
            str(root.parent),
            "--confcutdir",
            str(root.parent),
            "-p",
            "no:cacheprovider",
            "-q",
            "--json-report",
            f"--json-report-file={report}",
            "-k",
            " and ".join(f"not {name}" for name in SKIPPED),
        ]

    def _env(self, ctx: StepContext) -> dict[str, str]:
        env = dict(os.environ)
        if ctx.options.rootless_user:
            env["PODSHIFT_ROOTLESS_USER"] = ctx.options.rootless_user
        # The project's own variables (ports, paths) as the migration session sees them.
        env.update(ctx.project.env)
        return env

    def plan(self, ctx: StepContext) -> Plan:
        return Plan(
            self.name,
            "project",
            f"readiness checks for Podman of {ctx.podman_user}: `pytest checks/prerequisites -m prerequisites "
            f"--project-dir {ctx.project.project_dir}`; NOT READY stops here",
            notes=self._preflight_notes(ctx),
        )

    def _preflight_notes(self, ctx: StepContext) -> tuple[str, ...]:
        return tuple(self._preflight_problems(ctx))

    def _preflight_problems(self, ctx: StepContext) -> list[str]:
        """What podshift cannot migrate, whatever the host: no volumes at all, external volumes."""
        problems = []
        if not ctx.project.volumes:
            # The issue lists it as bad input: what migrate moves, verifies and can roll back is volume data.
            problems.append(
                "the project declares no named volumes: podshift migrate moves a stack's data (its named "
                "volumes), verified, and this one has none — check the host with `podshift validate`, then "
                "start it under Podman with `podman-compose up -d`"
            )
        for key, spec in ctx.project.volumes.items():
            if (spec or {}).get("external"):
                problems.append(
                    f"volume {key!r} is external ({ctx.project.volume_name(key)}): podshift moves only volumes "
                    "the project owns — create it in Podman and copy its data yourself, then drop `external`"
                    " or migrate without it"
                )
        return problems

    def run(self, ctx: StepContext) -> str | None:
        problems = self._preflight_problems(ctx)
        if problems:
            raise StepFailed(self.name, "; ".join(problems), "change the compose file, then run it again")
        if ctx.options.auto_rollback:
            provided = ctx.config.hook.pytest_podshift_steps(config=ctx.config, action="rollback", scenario=None)
            if not any(s.action == "rollback" for group in provided for s in (group or ())):
                raise StepFailed(
                    self.name,
                    "--auto-rollback needs the rollback action, and no plugin provides rollback steps here",
                    "run without --auto-rollback (and `podshift rollback` by hand if it fails)",
                )
        docker_rt = docker(ctx, self.name)
        podman(ctx, self.name)
        missing = [v for v in ctx.project.named_volumes if docker_rt.volume(v) is None]
        if missing:
            raise StepFailed(
                self.name,
                f"Docker has no volume {', '.join(missing)}: the project is not deployed on Docker "
                "(nothing to migrate)",
                "deploy it with `docker compose up -d` first",
            )
        verdict, failed = self._readiness(ctx)
        ctx.record("verdict", verdict)
        ctx.record("failed_checks", failed)
        if verdict == "NOT READY":
            user = f" --rootless-user {ctx.options.rootless_user}" if ctx.options.rootless_user else ""
            raise StepFailed(
                self.name,
                f"the host is NOT READY for Podman of {ctx.podman_user}: failed {'; '.join(failed[:8])}",
                f"podshift validate --fix-issues{user} --project-dir {ctx.project.project_dir}",
            )
        return f"{verdict} for Podman of {ctx.podman_user}"

    def _readiness(self, ctx: StepContext) -> tuple[str, list[str]]:
        with tempfile.TemporaryDirectory(prefix="podshift-migrate-") as tmp:
            report = Path(tmp) / "prerequisites.json"
            ctx.log.info("readiness: %s", " ".join(self._argv(ctx, report)))
            proc = subprocess.run(
                self._argv(ctx, report),
                env=self._env(ctx),
                cwd=ctx.project.project_dir,
                capture_output=True,
                text=True,
                timeout=900,
                check=False,
            )
            for line in proc.stdout.splitlines()[-40:]:
                ctx.log.info("  %s", line)
            if not report.exists():
                tail = (proc.stdout + proc.stderr).strip().splitlines()[-3:]
                raise StepFailed(self.name, f"the readiness checks did not run (exit {proc.returncode}): {tail}", RERUN)
            data: dict[str, Any] = json.loads(report.read_text()).get("podshift") or {}
        verdict = str(data.get("verdict", ""))
        if not verdict:
            raise StepFailed(self.name, "the readiness checks gave no verdict", RERUN)
        failed = [
            f"{nodeid.split('::')[-1]}: {(c.get('message') or '').splitlines()[0] if c.get('message') else ''}"
            for nodeid, c in (data.get("checks") or {}).items()
            if c.get("outcome") in ("failed", "error") and c.get("severity") == "critical"
        ]
        return verdict, failed
