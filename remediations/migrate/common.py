"""What the migration steps share: engines reached or a clear failure, volume names, journal files."""

from __future__ import annotations

import contextlib
import os

from podshift.paths import open_project_state_dir
from podshift.runtimes.docker import DockerRuntime
from podshift.runtimes.podman import PodmanRuntime
from podshift.steps import StepContext, reached, write_in_dir

#: What to run after a failed step once its cause is fixed (the journal makes it resume).
RERUN = "fix the cause, then run the same `podshift migrate` again (it resumes), or `podshift rollback`"
#: Label on the Podman volumes the migration creates (and only those are reused or refilled).
MIGRATED_LABEL = "io.podshift.migrated-from"


def docker(ctx: StepContext, step: str) -> DockerRuntime:
    """Docker, answering, or the step fails naming its socket."""
    return reached(ctx.docker(), step, RERUN)


def podman(ctx: StepContext, step: str) -> PodmanRuntime:
    """The target Podman, answering, or the step fails naming its socket."""
    return reached(ctx.podman(), step, RERUN)


def volume_names(ctx: StepContext) -> list[str]:
    """The engine-side names of the project's own named volumes (the same on both engines)."""
    return list(ctx.project.named_volumes)


def state_file(name: str) -> str:
    """A file name in ``<project>/.podshift/`` for data too big for the journal."""
    return "migrate-" + "".join(c if c.isalnum() or c in "-_." else "_" for c in name) + ".json"


def write_state(ctx: StepContext, name: str, body: bytes) -> str:
    """Write *body* atomically (0600) as *name* in the project's state directory; return the name."""
    fd = open_project_state_dir(ctx.project.project_dir)
    try:
        write_in_dir(fd, name, body, 0o600)
    finally:
        os.close(fd)
    return name


def remove_state(ctx: StepContext, name: str) -> None:
    """Remove *name* from the project's state directory (gone already: fine)."""
    fd = open_project_state_dir(ctx.project.project_dir)
    try:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name, dir_fd=fd)
    finally:
        os.close(fd)


def read_state(ctx: StepContext, name: str) -> bytes | None:
    fd = open_project_state_dir(ctx.project.project_dir)
    try:
        try:
            f = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=fd)
        except FileNotFoundError:
            return None
        with os.fdopen(f, "rb") as fh:
            return fh.read()
    finally:
        os.close(fd)
