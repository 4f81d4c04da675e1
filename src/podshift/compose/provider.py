"""Running a Compose project with the engine's own Compose tool.

Docker Compose v2 on Docker; podman-compose on Podman.  Output is captured
into the ``podshift.compose`` log; failures raise :class:`CommandError` with
the tool's stderr.

On Podman, ``up`` does what podman-compose 1.6 on Podman 4.3 does not: it
creates the containers (``up --no-start``), then starts services in
dependency order, honouring ``depends_on`` conditions, and runs the
healthchecks itself (``podman healthcheck run``), because without systemd
no timer ever runs them and health stays ``starting`` forever.
"""

from __future__ import annotations

import abc
import logging
import os
import re
import shlex
import shutil
import tempfile
import time
from pathlib import Path

from podshift.commands import CommandResult, run
from podshift.compose.model import ComposeProject
from podshift.compose.tools import docker_compose_argv, podman_compose_argv
from podshift.errors import EngineError
from podshift.runtimes.base import ContainerInfo, Runtime
from podshift.runtimes.docker import DockerRuntime
from podshift.runtimes.podman import PodmanRuntime

log = logging.getLogger("podshift.compose")
_USER_NAME = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")


class ComposeProvider(abc.ABC):
    """Compose operations on one project and one engine."""

    def __init__(self, project: ComposeProject, runtime: Runtime) -> None:
        self.project = project
        self.runtime = runtime

    @abc.abstractmethod
    def base_argv(self) -> list[str]:
        """The tool and the project-selecting options every call starts with."""

    def env(self) -> dict[str, str]:
        return dict(self.project.env)

    def _run(self, *args: str, timeout: float = 600) -> CommandResult:
        argv = [*self.base_argv(), *args]
        log.info("%s: %s", self.runtime.label, shlex.join(argv))
        result = run(argv, cwd=self.project.project_dir, env=self.env(), timeout=timeout)
        for stream in (result.stdout, result.stderr):
            for line in stream.splitlines():
                log.info("  %s", line)
        return result.check()

    def build(self) -> None:
        """Build every service that has a build section (local images only)."""
        self._run("build")

    @abc.abstractmethod
    def up(self, *, timeout: float = 180, build: bool = True) -> None:
        """Create and start the project, building what is missing; return when it is healthy.

        Without *build* the images must be present already (a migration carries them over:
        a rebuild would run other images than the ones Docker ran).
        """

    def stop(self) -> None:
        """Stop the project's containers; they, their volumes and networks stay."""
        self._run("stop")

    def down(self, *, volumes: bool = False) -> None:
        """Stop and remove containers and networks (named volumes too with *volumes*)."""
        self._run("down", *(["--volumes"] if volumes else []))

    def ps(self) -> list[ContainerInfo]:
        """The project's containers as the engine sees them."""
        return self.runtime.project_containers(self.project.name)

    def close(self) -> None:  # noqa: B027 - optional hook, most providers hold nothing
        """Release anything the provider created for itself."""


class DockerComposeProvider(ComposeProvider):
    """Docker Compose v2 (``docker compose`` or the ``docker-compose`` v2 binary)."""

    def base_argv(self) -> list[str]:
        argv = [*docker_compose_argv(), "--project-directory", str(self.project.project_dir), "-p", self.project.name]
        for f in self.project.compose_files:
            argv += ["-f", str(f)]
        return argv

    def env(self) -> dict[str, str]:
        return {**super().env(), "DOCKER_HOST": self.runtime.address}

    def up(self, *, timeout: float = 180, build: bool = True) -> None:
        # Compose v2 honours depends_on conditions and --wait waits for health.
        self._run(
            "up",
            "-d",
            "--build" if build else "--no-build",
            "--wait",
            "--wait-timeout",
            str(int(timeout)),
            timeout=timeout + 600,
        )


class PodmanComposeProvider(ComposeProvider):
    """podman-compose, with dependency-ordered start and driven healthchecks."""

    runtime: PodmanRuntime

    def __init__(self, project: ComposeProject, runtime: PodmanRuntime) -> None:
        super().__init__(project, runtime)
        self._wrapper_dir: str | None = None

    def _podman_path(self) -> str:
        run_as = self.runtime.run_as
        if run_as is None or os.geteuid() == run_as.uid:
            return shutil.which("podman") or "podman"
        # podshift runs as root but the engine is a user's rootless Podman:
        # podman-compose (running here) calls this wrapper, which runs podman as that user.
        if not _USER_NAME.match(run_as.user):
            raise EngineError(self.runtime.label, "compose", f"refusing unusual user name {run_as.user!r}")
        if self._wrapper_dir is None:
            self._wrapper_dir = tempfile.mkdtemp(prefix="podshift-podman-")
            wrapper = Path(self._wrapper_dir) / "podman"
            env = " ".join(shlex.quote(f"{k}={v}") for k, v in run_as.env().items())
            wrapper.write_text(f'#!/bin/sh\nexec runuser -u {run_as.user} -- env {env} podman "$@"\n')
            wrapper.chmod(0o700)
        return str(Path(self._wrapper_dir) / "podman")

    def base_argv(self) -> list[str]:
        argv = [
            *podman_compose_argv(),
            "--podman-path",
            self._podman_path(),
            "--in-pod",
            "false",
            "-p",
            self.project.name,
        ]
        for f in self.project.compose_files:
            argv += ["-f", str(f)]
        return argv

    def up(self, *, timeout: float = 180, build: bool = True) -> None:
        # podman-compose only builds images that are missing; build explicitly
        # (layer cache makes it cheap) so a changed Dockerfile is picked up, as
        # Docker Compose's --build does.
        if build and any(s.build_context for s in self.project.services.values()):
            self._run("build", timeout=timeout + 600)
        self._run("up", "-d", "--no-start", timeout=timeout + 600)
        deadline = time.monotonic() + timeout
        for name in self.project.start_order():
            service = self.project.services[name]
            for dep, condition in sorted(service.depends_on.items()):
                self._wait_for(dep, condition, deadline)
            for c in self._containers_of(name):
                log.info("%s: start %s", self.runtime.label, c.name)
                self.runtime.start(c.name)
        for name in self.project.services:
            wanted = "service_healthy" if self.project.services[name].has_healthcheck else "service_started"
            self._wait_for(name, wanted, deadline)

    def _containers_of(self, service: str) -> list[ContainerInfo]:
        return [c for c in self.ps() if c.service == service]

    def _wait_for(self, service: str, condition: str, deadline: float) -> None:
        """Block until every container of *service* meets *condition* (a depends_on condition)."""
        while True:
            containers = self._containers_of(service)
            pending = [c for c in containers if not self._meets(c, condition)]
            if containers and not pending:
                return
            if time.monotonic() > deadline:
                states = ", ".join(f"{c.name}={c.status}/{c.health or '-'}" for c in containers) or "no containers"
                raise EngineError(
                    self.runtime.label,
                    f"start {self.project.name}",
                    f"service {service} did not reach {condition} in time ({states})",
                )
            time.sleep(0.5)

    def _meets(self, c: ContainerInfo, condition: str) -> bool:
        if condition == "service_completed_successfully":
            return c.status == "exited"
        if c.status != "running":
            return False
        if condition != "service_healthy" or c.health in (None, "healthy"):
            return True
        # No systemd timer runs healthchecks here: run one now.
        return self.runtime.cli("healthcheck", "run", c.name, timeout=60).succeeded

    def close(self) -> None:
        if self._wrapper_dir is not None:
            shutil.rmtree(self._wrapper_dir, ignore_errors=True)
            self._wrapper_dir = None


def provider_for(project: ComposeProject, runtime: Runtime) -> ComposeProvider:
    """The Compose tool for *runtime*'s engine."""
    if isinstance(runtime, PodmanRuntime):
        return PodmanComposeProvider(project, runtime)
    if isinstance(runtime, DockerRuntime):
        return DockerComposeProvider(project, runtime)
    raise TypeError(f"no compose provider for {runtime!r}")
