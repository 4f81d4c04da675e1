"""podshift drill on real engines: the clone runs beside the live stack and the live stack is untouched.

The live stack is the reference stack on the host's Docker (``i14-drill-…``, ports 21410-21413, a /24
of 10.14.0.0/16); clones take ports from 21450-21499 and /24s from 10.14.0.0/16.  Its worker (which
writes a heartbeat every 5 s) is stopped after the data is written, so "untouched" can be checked byte
for byte: any change to the live stack's volumes, files, containers or networks fails the test.

``test_drill_full_cycle`` needs ``podshift migrate`` and ``podshift rollback``; it fails until they exist.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest

from podshift.commands import run
from podshift.compose import ComposeProject, DockerComposeProvider, load_project, provider_for
from podshift.drill import Prober, free_subnets, make_clone, remove_clone, used_subnets, volume_digest
from podshift.runtimes import DockerRuntime, PodmanRuntime

from ..conftest import EXAMPLE
from .conftest import build_base_image, http

pytestmark = pytest.mark.xdist_group("docker")

LIVE_PORTS = {"api": 21410, "web": 21411, "gateway": 21412, "worker": 21413}
CLONE_PORTS = range(21450, 21500)
POOL = "10.14.0.0/16"


@dataclass
class Live:
    root: Path
    path: Path
    name: str
    env: dict[str, str]
    docker: DockerRuntime
    project: ComposeProject


@pytest.fixture(scope="module")
def live() -> Iterator[Live]:
    root = Path(tempfile.mkdtemp(prefix="i14-drill-"))
    root.chmod(0o755)
    path = root / "phoenix-hydra"
    shutil.copytree(EXAMPLE, path)
    (root / "data").mkdir()
    docker = DockerRuntime()
    name = f"i14-drill-{uuid.uuid4().hex[:6]}"
    env = {
        **os.environ,
        "COMPOSE_PROJECT_NAME": name,
        "PHOENIX_DATA_DIR": str(root / "data"),
        "PHOENIX_SUBNET": free_subnets(1, "10.14.128.0/17", used_subnets([docker]))[0],
        **{f"PHOENIX_{s.upper()}_PORT": str(p) for s, p in LIVE_PORTS.items()},
    }
    project = load_project(path, project_name=name, env=env)
    build_base_image(path, docker)
    provider = provider_for(project, docker)
    try:
        provider.up()
        for i in range(3):
            http(f"http://127.0.0.1:{LIVE_PORTS['api']}/cgi-bin/records", data=f"i14 live record {i}".encode())
        time.sleep(6)  # the worker writes its heartbeat and job counter at least once
        run([*provider.base_argv(), "stop", "worker"], env=env, timeout=120).check()
        yield Live(root, path, name, env, docker, project)
    finally:
        provider.down(volumes=True)
        provider.close()
        docker.close()
        shutil.rmtree(root, ignore_errors=True)


def live_state(live: Live) -> dict[str, Any]:
    """Everything of the live stack a drill must not touch: objects, volume contents, project files."""
    files = {
        str(p.relative_to(live.root)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mode, p.stat().st_mtime)
        for p in sorted(live.root.rglob("*"))
        if p.is_file() and not p.is_symlink() and "reports" not in p.relative_to(live.root).parts
    }
    return {
        "containers": sorted((c.id, c.name, c.status) for c in live.docker.project_containers(live.name)),
        "volumes": {v.name: volume_digest(live.docker, v.name) for v in live.docker.project_volumes(live.name)},
        "networks": sorted((n.id, n.name, n.subnets) for n in live.docker.project_networks(live.name)),
        "files": files,
    }


def no_objects_of(project: str, *runtimes: DockerRuntime | PodmanRuntime) -> None:
    for rt in runtimes:
        assert rt.project_containers(project) == [], rt.label
        assert rt.project_volumes(project) == [], rt.label
        assert rt.project_networks(project) == [], rt.label


@pytest.mark.parametrize("source", ["backup", "fresh"])
def test_clone_runs_beside_the_live_stack_and_leaves_it_untouched(live: Live, source: str) -> None:
    backup_dir = live.path / ".docker-backup"
    shutil.rmtree(backup_dir, ignore_errors=True)
    if source == "backup":
        taken = subprocess.run(
            [sys.executable, "-m", "podshift.cli", "backup", "--include-data", "--project-dir", str(live.path)],
            env=live.env, capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
        assert taken.returncode == 0, taken.stdout + taken.stderr
        run([*DockerComposeProvider(live.project, live.docker).base_argv(), "stop", "worker"], env=live.env).check()
    before = live_state(live)
    clone = make_clone(live.project, live.docker, port_candidates=CLONE_PORTS, subnet_pool=POOL, prefix="i14-clone-")
    model = load_project(clone.project_dir, env=clone.env())
    try:
        assert (
            clone.data_source.startswith("backup") if source == "backup" else "copied while it ran" in clone.data_source
        )
        assert sorted(m.live for m in clone.ports) == sorted(LIVE_PORTS.values())
        assert all(m.clone in CLONE_PORTS for m in clone.ports)
        assert model.name == clone.name != live.name
        for live_volume, copy in clone.volumes.values():
            assert volume_digest(live.docker, copy) == before["volumes"][live_volume], copy
        DockerComposeProvider(model, live.docker).up()
        (subnet,) = [new for _, new in clone.subnets.values()]
        assert [n.subnets for n in live.docker.project_networks(clone.name)] == [(subnet,)]
        with Prober([m.clone for m in clone.ports]) as prober:
            time.sleep(1.5)
        assert len(prober.samples) >= 8, "probed every 100 ms"
        assert all(s.ok for s in prober.samples), [s.failing for s in prober.samples if not s.ok]
        records = http(f"http://127.0.0.1:{next(m.clone for m in clone.ports if m.service == 'api')}/cgi-bin/records")
        assert "i14 live record 2" in records
        (bind_copy,) = clone.binds.values()
        assert (Path(bind_copy) / "records.log").read_text() == (live.root / "data" / "records.log").read_text()
    finally:
        left = remove_clone(clone, model, live.docker, None)
    assert left == []
    no_objects_of(clone.name, live.docker)
    assert not clone.root.exists()
    assert live_state(live) == before


@pytest.mark.parametrize("target", ["podman", "podman-rootless"])
def test_drill_full_cycle(live: Live, target: str, tmp_path: Path) -> None:
    """backup -> migrate -> rollback --keep-data on a clone: exit 0, reports, every byte back, live untouched."""
    shutil.rmtree(live.path / ".docker-backup", ignore_errors=True)
    user = os.environ.get("PODSHIFT_ROOTLESS_USER", "podshift") if target == "podman-rootless" else None
    before = live_state(live)
    argv = [sys.executable, "-m", "podshift.cli", "drill", "--project-dir", str(live.path), "--max-downtime", "60"]
    argv += [
        "--ports",
        "21450-21499",
        "--subnet-pool",
        POOL,
        "--reports-dir",
        str(tmp_path),
        "--clone-prefix",
        "i14-clone-",
    ]
    argv += ["--rootless-user", user] if user else []
    # Rootful means rootful: without --rootless-user the drill would follow PODSHIFT_ROOTLESS_USER.
    env = live.env if user else {k: v for k, v in live.env.items() if k != "PODSHIFT_ROOTLESS_USER"}
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=3600, check=False)
    report = json.loads((tmp_path / "drill.json").read_text())
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert proc.stdout.rstrip().endswith("podshift drill: PASSED")
    assert report["passed"] is True
    assert [s["name"] for s in report["steps"]] == ["backup", "migrate", "rollback"]
    assert 0 <= report["rollback_downtime"] <= 60
    assert report["migration_downtime"] is not None
    assert report["byte_differences"] == []
    suite = ET.parse(tmp_path / "drill.xml").getroot()  # noqa: S314 - podshift's own report
    assert suite.get("failures") == "0"
    assert (tmp_path / "drill.html").read_text().count("PASSED") >= 1
    # Each step of migrate and rollback is in the report, and their own reports outlive the clone.
    items = {i["nodeid"]: i["outcome"] for s in report["steps"] for i in s["items"]}
    assert items.get("migrate::stop-docker") == "done", sorted(items)  # a step's outcome, as podshift reports it
    assert any(n.startswith("rollback::") for n in items)
    for verb in ("migrate", "rollback"):
        assert (tmp_path / f"drill-{verb}.json").is_file()
    podman = PodmanRuntime.for_user(user) if user else PodmanRuntime.rootful()
    try:
        no_objects_of(report["clone"], live.docker, podman)
    finally:
        podman.close()
    assert not Path(report["clone_dir"]).exists()
    assert live_state(live) == before


def test_drill_gate_fails_on_downtime_and_keep_leaves_the_clone(live: Live, tmp_path: Path) -> None:
    """--max-downtime below any real outage fails the drill (exit 1, named); --keep leaves the clone."""
    shutil.rmtree(live.path / ".docker-backup", ignore_errors=True)
    before = live_state(live)
    argv = [sys.executable, "-m", "podshift.cli", "drill", "--project-dir", str(live.path), "--max-downtime", "0.05"]
    argv += ["--keep", "--ports", "21450-21499", "--subnet-pool", POOL, "--reports-dir", str(tmp_path)]
    argv += ["--clone-prefix", "i14-clone-"]
    proc = subprocess.run(argv, env=live.env, capture_output=True, text=True, timeout=3600, check=False)
    report = json.loads((tmp_path / "drill.json").read_text())
    clone_dir = Path(report["clone_dir"])
    # Without --rootless-user the drill migrates to the Podman of PODSHIFT_ROOTLESS_USER when that is set:
    # what --keep leaves may be in either store.
    user = os.environ.get("PODSHIFT_ROOTLESS_USER")
    podmans = [PodmanRuntime.rootful(), *([PodmanRuntime.for_user(user)] if user else [])]
    try:
        assert proc.returncode == 1, proc.stdout[-4000:]
        assert "exceeds --max-downtime 0.05 s" in proc.stdout.splitlines()[-1]
        assert [s["rc"] for s in report["steps"]] == [0, 0, 0], "only the gate failed"
        assert clone_dir.is_dir(), "--keep leaves the clone"
        assert {v.name for v in live.docker.project_volumes(report["clone"])} == {
            f"{report['clone']}_api-data",
            f"{report['clone']}_worker-state",
        }
    finally:
        clone = load_project(clone_dir, project_name=report["clone"]) if clone_dir.is_dir() else None
        if clone is not None:
            DockerComposeProvider(clone, live.docker).down(volumes=True)
        for podman in podmans:
            for v in podman.project_volumes(report["clone"]):
                podman.volume_remove(v.name, force=True)
        shutil.rmtree(clone_dir.parent, ignore_errors=True)
        try:
            no_objects_of(report["clone"], live.docker, *podmans)
        finally:
            for podman in podmans:
                podman.close()
    assert live_state(live) == before
