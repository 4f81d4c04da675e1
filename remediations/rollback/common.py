"""What the rollback steps share: the backup they need, the engines' health, the project as it is now."""

from __future__ import annotations

from podshift.backup.store import BackupStore, verify_dir
from podshift.compose.model import ComposeProject
from podshift.errors import ProjectError
from podshift.rollback.project import reload
from podshift.runtimes.docker import DockerRuntime
from podshift.runtimes.podman import PodmanRuntime
from podshift.steps import StepContext, StepFailed, reached

#: What to run when a rollback step fails and the user has fixed the cause.
RERUN = "fix the cause, then run the same `podshift rollback` again (it resumes)"


def verified_backup(ctx: StepContext, step: str) -> BackupStore:
    """The project's backup, verified; the seed's message when there is none, the bad files when it does not verify."""
    store = BackupStore(ctx.project.project_dir)
    if not store.exists():
        raise StepFailed(
            step, f"Backup directory not found: {store.path}; create one with `podshift backup`", "podshift backup"
        )
    # Every file's sha256 against the manifest, whose own digests are checked first.
    problems = verify_dir(store.path, deep=False, trust_backup=ctx.options.trust_backup)
    if problems:
        raise StepFailed(
            step,
            f"the backup at {store.path} does not verify, refusing to restore from it: {'; '.join(problems[:8])}",
            "podshift backup --verify",
        )
    return store


def docker(ctx: StepContext, step: str) -> DockerRuntime:
    """Docker, answering, or the step fails naming its socket."""
    return reached(ctx.docker(), step, RERUN)


def podman(ctx: StepContext, step: str) -> PodmanRuntime:
    """The target Podman, answering, or the step fails naming its socket."""
    return reached(ctx.podman(), step, RERUN)


def current_project(ctx: StepContext) -> ComposeProject:
    """The project as its directory holds it now (the restore step put the compose file back)."""
    try:
        return reload(ctx.project)
    except ProjectError:  # not restored yet: the model from the backup's copy is the one there is
        return ctx.project
