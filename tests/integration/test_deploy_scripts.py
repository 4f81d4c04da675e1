"""The reference stack's own scripts on Docker: deploy.sh, verify.sh, teardown.sh."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from podshift.compose.tools import docker_compose_argv
from podshift.runtimes import DockerRuntime

from ..conftest import EXAMPLE
from .conftest import free_port, unused_subnet

pytestmark = pytest.mark.xdist_group("docker")


@pytest.fixture
def scripted_stack(docker_runtime: DockerRuntime) -> Iterator[tuple[Path, dict[str, str], str]]:
    root = Path(tempfile.mkdtemp(prefix="podshift-scripts-"))
    shutil.copytree(EXAMPLE, root / "stack")
    name = f"pstest-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "COMPOSE_PROJECT_NAME": name,
        "DOCKER_COMPOSE": docker_compose_argv()[0],
        "PHOENIX_DATA_DIR": str(root / "data"),
        "PHOENIX_SUBNET": unused_subnet(docker_runtime),
        **{f"PHOENIX_{s}_PORT": str(free_port()) for s in ("API", "WEB", "GATEWAY", "WORKER")},
    }
    try:
        yield root / "stack", env, name
    finally:
        subprocess.run([str(root / "stack" / "teardown.sh"), "--volumes"], env=env, capture_output=True, check=False)
        shutil.rmtree(root, ignore_errors=True)


def _run(script: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(script), *args], env=env, capture_output=True, text=True, timeout=600, check=False)


def test_deploy_verify_teardown(
    scripted_stack: tuple[Path, dict[str, str], str], docker_runtime: DockerRuntime
) -> None:
    stack, env, name = scripted_stack
    deployed = _run(stack / "deploy.sh", env)
    assert deployed.returncode == 0, deployed.stderr[-2000:]

    verified = _run(stack / "verify.sh", env)
    assert verified.returncode == 0, verified.stdout
    assert "verify: all endpoints answer" in verified.stdout

    torn = _run(stack / "teardown.sh", env)
    assert torn.returncode == 0, torn.stderr[-2000:]
    assert docker_runtime.project_containers(name) == []
    assert docker_runtime.project_networks(name) == []
    assert {v.name for v in docker_runtime.project_volumes(name)} == {f"{name}_api-data", f"{name}_worker-state"}

    # verify.sh fails, naming the endpoint, when the stack is down.
    down = _run(stack / "verify.sh", env)
    assert down.returncode == 1
    assert "FAIL  api" in down.stdout

    gone = _run(stack / "teardown.sh", env, "--volumes")
    assert gone.returncode == 0, gone.stderr[-2000:]
    assert docker_runtime.project_volumes(name) == []
