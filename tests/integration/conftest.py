"""Integration fixtures: the reference stack, copied and isolated, on each real engine.

Every stack gets a unique project name, free 127.0.0.1 ports, its own
subnet and data dir, so it can run beside leftovers and other tests; it is
torn down with its volumes afterwards.
"""

from __future__ import annotations

import fcntl
import json
import os
import pwd
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from podshift.commands import RunAs, run
from podshift.compose import ComposeProject, ComposeProvider, load_project, provider_for
from podshift.runtimes import PodmanRuntime, Runtime

from ..conftest import EXAMPLE, REPO

CHECKS = REPO / "checks" / "prerequisites"

ENGINES = [
    pytest.param("docker", marks=pytest.mark.xdist_group("docker")),
    pytest.param("podman", marks=pytest.mark.xdist_group("podman")),
    pytest.param("podman-rootless", marks=pytest.mark.xdist_group("podman-rootless")),
]
_FIXTURE_FOR = {"docker": "docker_runtime", "podman": "podman_runtime", "podman-rootless": "rootless_podman_runtime"}


#: Held shared by every integration test, exclusively by a ``host_exclusive`` one (across xdist workers).
HOST_LOCK = Path(tempfile.gettempdir()) / "podshift-tests-host.lock"


@pytest.fixture(autouse=True)
def _host_state_lock(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test that breaks host-wide state (closes /dev/net/tun for every rootless user) runs alone.

    Autouse, so it is set up before the test's other function-scoped fixtures
    (a rootless stack starting while /dev/net/tun is closed would fail).
    """
    exclusive = request.node.get_closest_marker("host_exclusive") is not None
    with open(HOST_LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> Runtime:
    """Docker, rootful Podman and rootless Podman in turn (real engines)."""
    value: Runtime = request.getfixturevalue(_FIXTURE_FOR[request.param])
    return value


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def unused_subnet(runtime: Runtime) -> str:
    """A /24 in 10.213.0.0/16 that none of the engine's networks uses."""
    used = {n for p in ("",) for n in _all_subnets(runtime)}
    for _ in range(100):
        candidate = f"10.213.{random.randint(1, 254)}.0/24"  # noqa: S311 - not security
        if candidate not in used:
            return candidate
    raise RuntimeError("no free test subnet")


def _all_subnets(runtime: Runtime) -> set[str]:
    client = runtime.client  # type: ignore[attr-defined]
    subnets: set[str] = set()
    for n in client.networks.list():
        attrs = n.attrs
        for c in (attrs.get("IPAM") or {}).get("Config") or []:
            subnets.add(c.get("Subnet", ""))
        for s in attrs.get("subnets") or []:
            subnets.add(s.get("subnet", ""))
    return subnets


def run_as_of(runtime: Runtime) -> RunAs | None:
    return runtime.run_as if isinstance(runtime, PodmanRuntime) else None


def http(url: str, data: bytes | None = None, attempts: int = 20) -> str:
    """GET (or POST *data*) on 127.0.0.1 with a bounded number of retries."""
    last: Exception | None = None
    for _ in range(attempts):
        try:
            with urllib.request.urlopen(url, data=data, timeout=5) as r:  # noqa: S310 - 127.0.0.1 only
                body: bytes = r.read()
                return body.decode()
        except (urllib.error.URLError, ConnectionError, TimeoutError) as e:
            last = e
            time.sleep(0.5)
    raise AssertionError(f"{url} did not answer: {last}")


@dataclass
class Stack:
    """A private copy of phoenix-hydra on one engine."""

    runtime: Runtime
    root: Path
    ports: dict[str, int]
    data_dir: Path
    env: dict[str, str]
    project: ComposeProject
    provider: ComposeProvider
    started: list[str] = field(default_factory=list)

    def url(self, service: str, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.ports[service]}{path}"


def build_base_image(stack_dir: Path, runtime: Runtime) -> None:
    # The script's text, not its path: a rootless user cannot read a checkout under a 0700 directory
    # (a clone in mktemp -d, or in root's home), and the script needs nothing else from it.
    script = (stack_dir / "compose/base/build-base.sh").read_text()
    argv = ["sh", "-c", script, "build-base.sh", runtime.engine]
    run(argv, run_as=run_as_of(runtime), timeout=300).check()


@pytest.fixture
def stack(engine: Runtime) -> Iterator[Stack]:
    """phoenix-hydra copied to a private directory, with unique names; removed afterwards."""
    # A directory the rootless user can read (pytest's tmp_path is 0700 root).
    root = Path(tempfile.mkdtemp(prefix="podshift-stack-"))
    root.chmod(0o755)
    run_as = run_as_of(engine)
    try:
        shutil.copytree(EXAMPLE, root / "stack")
        data_dir = root / "data"
        data_dir.mkdir()
        if run_as is not None:
            pw = pwd.getpwnam(run_as.user)
            os.chown(data_dir, pw.pw_uid, pw.pw_gid)
        ports = {s: free_port() for s in ("api", "web", "gateway", "worker")}
        env = {f"PHOENIX_{s.upper()}_PORT": str(p) for s, p in ports.items()}
        env |= {"PHOENIX_SUBNET": unused_subnet(engine), "PHOENIX_DATA_DIR": str(data_dir)}
        name = f"pstest-{uuid.uuid4().hex[:8]}"
        project = load_project(root / "stack", project_name=name, env=env)
        build_base_image(root / "stack", engine)
        provider = provider_for(project, engine)
        try:
            yield Stack(engine, root, ports, data_dir, env, project, provider)
        finally:
            provider.down(volumes=True)
            provider.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)


# -- running podshift's real checks in a subprocess ------------------------------------------------
def run_checks(
    project: Path, *select: str, env: dict[str, str] | None = None, args: Sequence[str] = ()
) -> dict[str, Any]:
    """Run the prerequisite checks (*select*: node ids under checks/prerequisites) with extra pytest *args*.

    Returns podshift's section of the JSON report, plus ``rc`` (the exit code).
    """
    out = Path(tempfile.mkdtemp(prefix="podshift-json-")) / "r.json"
    argv = [
        sys.executable,
        "-m",
        "pytest",
        *(str(CHECKS / s) for s in select),
        "-m",
        "prerequisites",
        "--project-dir",
        str(project),
        "--json-report",
        f"--json-report-file={out}",
        "-p",
        "no:cacheprovider",
        "--rootdir",
        str(REPO),
        "-q",
        *args,
    ]
    proc = subprocess.run(
        argv, cwd=REPO, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=300, check=False
    )
    assert out.exists(), f"no JSON report (rc {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}"
    data: dict[str, Any] = json.loads(out.read_text())["podshift"]
    data["rc"] = proc.returncode
    shutil.rmtree(out.parent, ignore_errors=True)
    return data


def check(result: dict[str, Any], name: str) -> dict[str, Any]:
    # testinfra's host fixture parametrizes checks that use it (``[local]``).
    found = [c for nodeid, c in result["checks"].items() if nodeid.split("::")[-1].split("[")[0] == name]
    assert found, f"{name} did not run: {sorted(result['checks'])}"
    return found[0]


@pytest.fixture
def project_copy() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="podshift-prereq-"))
    root.chmod(0o755)
    shutil.copytree(EXAMPLE, root / "stack")
    try:
        yield root / "stack"
    finally:
        shutil.rmtree(root, ignore_errors=True)


def write_compose(project: Path, body: str) -> None:
    for old in project.glob("*compose*.y*ml"):
        old.unlink()
    (project / "compose.yaml").write_text(textwrap.dedent(body))


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory the rootless user can read too (pytest's tmp_path is root's, 0700)."""
    path = Path(tempfile.mkdtemp(prefix="podshift-conf-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def conf_file(shared_dir: Path) -> Path:
    return shared_dir / "containers.conf"
