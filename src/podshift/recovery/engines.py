"""The two engines a recovery looks at: Docker, and the target Podman (``--rootless-user``'s, else ours)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from podshift.commands import CommandResult, run
from podshift.compose.model import ComposeProject
from podshift.compose.provider import provider_for
from podshift.engines import podman_runtime_for
from podshift.runtimes import DockerRuntime, PodmanRuntime, Runtime
from podshift.session_engines import target_podman_user


@contextmanager
def both_engines(config: pytest.Config) -> Iterator[dict[str, Runtime]]:
    """``{"docker": ..., "podman": ...}``, unconnected (a down engine is a finding, not an error); closed after."""
    runtimes: dict[str, Runtime] = {
        "docker": DockerRuntime(),
        "podman": podman_runtime_for(target_podman_user(config)),
    }
    try:
        yield runtimes
    finally:
        for runtime in runtimes.values():
            runtime.close()


def podman(runtime: PodmanRuntime, *args: str, timeout: float = 600) -> CommandResult:
    """``podman ARGS`` as the engine's user, from ``/``: rootless Podman re-executes itself in its
    user namespace and fails ("cannot chdir to ...") when the caller's directory is closed to that user.
    """
    return run(["podman", *args], run_as=runtime.run_as, cwd="/", timeout=timeout)


def compose_argv(project: ComposeProject, runtime: PodmanRuntime) -> tuple[str, ...]:
    """The podman-compose command line podshift runs for *project* (for plans: what would run)."""
    provider = provider_for(project, runtime)
    try:
        return tuple(provider.base_argv())
    finally:
        provider.close()
