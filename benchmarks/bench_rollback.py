"""Benchmark: `podshift rollback --keep-data` of the reference stack, against floors measured in this script.

Setup per round: phoenix-hydra (own name, images, ports 21200-21299, subnet 10.12.x.0/24) up on Docker,
backed up, stopped with its network removed, its volumes copied into rootful Podman volumes, the api's
volume filled with N x 4 MiB + M x 4 KiB files (full size: 64 x 4 MiB + 20,000 x 4 KiB, ~335 MiB), and
`podman-compose up`.  Measured (medians of three rounds, minimum beside them):

  switch floor   `podman-compose stop` + `docker compose up -d --wait` of the untouched Docker stack:
                 total seconds and downtime
  rollback       `podshift rollback --force --keep-data` as a child process: total seconds and downtime
                 (downtime: first failed to first good GET /health on the api's port, probed every 100 ms)
  copy floor     `cp -a SRC/. DST/ && sync` from the Podman volume's mountpoint into a fresh Docker volume
  verified floor the same, then sha256sum of every file of both trees (two pipelines at once): the floor of
                 any copy checked byte for byte, with the standard tools
  copy           podshift.volumes.transfer (the copy step 4 uses) into a fresh Docker volume, verified
  backup         BackupStore.create of the same data on Docker (the backup's own speed)
  snapshot       PodmanSnapshot.create of the data on Podman (step 2: same code, Podman engine)

Targets (issue #12): copy <= 1.5 x copy floor (rootful); the snapshot at the backup's speed.
BENCH_SCALE (default 1.0) scales the data, BENCH_ROUNDS (default 3) the rounds; BENCH_PREFIX (default
i12-bench) names the stack, its images and volumes, BENCH_PORTS (default 21200-21299) and BENCH_NET
(default 10.12) pick its ports and subnet.
"""

from __future__ import annotations

import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from bench_backup import fill  # benchmarks/ is on sys.path when this script runs

from podshift import drill
from podshift.backup.store import BackupStore
from podshift.commands import run
from podshift.compose import load_project
from podshift.compose.model import ComposeProject
from podshift.compose.provider import DockerComposeProvider, PodmanComposeProvider
from podshift.rollback.podman_side import take_down
from podshift.rollback.snapshot import PodmanSnapshot
from podshift.runtimes import DockerRuntime, PodmanRuntime
from podshift.volumes.transfer import VolumeRef, transfer_volume

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "phoenix-hydra"
SCALE = float(os.environ.get("BENCH_SCALE", "1.0"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
BIG, SMALL = int(64 * SCALE), int(20000 * SCALE)
COPY_TARGET = 1.5
#: The copy verified with the standard tools: cp -a, sync, then sha256sum of every file of both trees at once.
VERIFIED_CP = (
    'cp -a "$0"/. "$1"/ && sync && '
    '{ find "$0" -type f -print0 | xargs -0 -r sha256sum >/dev/null & '
    'find "$1" -type f -print0 | xargs -0 -r sha256sum >/dev/null; wait; }'
)
PREFIX = os.environ.get("BENCH_PREFIX", "i12-bench")
PORTS = tuple(int(p) for p in os.environ.get("BENCH_PORTS", "21200-21299").split("-", 1))
NET = os.environ.get("BENCH_NET", "10.12")


def free_ports(n: int) -> list[int]:
    span = range(PORTS[0], PORTS[1] + 1)
    return drill.free_ports(n, random.sample(span, len(span)))


@dataclass
class Stack:
    root: Path
    name: str
    env: dict[str, str]
    ports: dict[str, int]
    docker: DockerRuntime
    podman: PodmanRuntime
    extra_volumes: list[str] = field(default_factory=list)

    @property
    def dir(self) -> Path:
        return self.root / "stack"

    @property
    def project(self) -> ComposeProject:
        return load_project(self.dir, env=self.env)

    @property
    def api_volume(self) -> str:
        return f"{self.name}_api-data"


def make_stack(docker: DockerRuntime, podman: PodmanRuntime) -> Stack:
    root = Path(tempfile.mkdtemp(prefix=f"{PREFIX}-"))
    root.chmod(0o755)
    shutil.copytree(EXAMPLE, root / "stack")
    name = f"{PREFIX}-{uuid.uuid4().hex[:6]}"
    compose = root / "stack" / "docker-compose.yml"
    text = compose.read_text().replace("name: phoenix-hydra", f"name: {name}")
    compose.write_text(text.replace("localhost/phoenix-hydra-", f"localhost/{PREFIX}-phoenix-"))
    (root / "data").mkdir()
    ports = dict(zip(("api", "web", "gateway", "worker"), free_ports(4), strict=True))
    env = {f"PHOENIX_{s.upper()}_PORT": str(p) for s, p in ports.items()}
    env |= {"PHOENIX_SUBNET": f"{NET}.{random.randint(200, 250)}.0/24", "PHOENIX_DATA_DIR": str(root / "data")}  # noqa: S311
    s = Stack(root, name, env, ports, docker, podman)
    for engine in ("docker", "podman"):
        run([str(s.dir / "compose/base/build-base.sh"), engine], timeout=300).check()
    DockerComposeProvider(s.project, docker).up()
    BackupStore(s.dir).create(s.project, docker, include_data=True, force=True)
    return s


def move_to_podman(s: Stack) -> None:
    """Docker's stack stopped (network removed), its data in Podman volumes plus the bulk data, podman-compose up."""
    provider = DockerComposeProvider(s.project, s.docker)
    provider._run("stop")
    for c in s.docker.project_containers(s.name):
        s.docker.remove_container(c.name)
    for n in s.docker.project_networks(s.name):
        s.docker.client.networks.get(n.id).remove()
    for volume in s.project.named_volumes:
        s.podman.volume_remove(volume, force=True)
        key = volume.removeprefix(f"{s.name}_")
        labels = {"com.docker.compose.project": s.name, "io.podman.compose.project": s.name}
        s.podman.volume_create(volume, {**labels, "com.docker.compose.volume": key})
        s.podman.volume_import(volume, s.docker.volume_export(volume))
    fill(s.podman, s.api_volume, BIG, SMALL)  # type: ignore[arg-type]  # the backup bench's filler, any engine
    pc = PodmanComposeProvider(s.project, s.podman)
    try:
        pc.up()
    finally:
        pc.close()
    shutil.rmtree(s.dir / ".podshift", ignore_errors=True)  # a fresh rollback journal each round
    shutil.rmtree(s.dir / ".docker-backup" / "podman-snapshot", ignore_errors=True)


class Prober(threading.Thread):
    """GET /health every 100 ms; downtime = first failure to the first success after it."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.stop_at = url, False
        self.first_fail: float | None = None
        self.back: float | None = None

    def run(self) -> None:
        while not self.stop_at:
            ok = False
            try:
                with urllib.request.urlopen(self.url, timeout=0.5) as r:  # noqa: S310 - 127.0.0.1 only
                    ok = r.status == 200
            except OSError:
                ok = False
            now = time.monotonic()
            if not ok and self.first_fail is None:
                self.first_fail = now
            if ok and self.first_fail is not None and self.back is None:
                self.back = now
            time.sleep(0.1)

    def downtime(self) -> float:
        if self.first_fail is None:
            return 0.0
        return (self.back or time.monotonic()) - self.first_fail


def timed_switch(s: Stack, action: list[list[str]] | None) -> tuple[float, float]:
    """Run *action* (argv lists; None: the rollback CLI) while probing the api; (seconds, downtime)."""
    prober = Prober(f"http://127.0.0.1:{s.ports['api']}/health")
    prober.start()
    time.sleep(0.3)
    began = time.monotonic()
    env = {**os.environ, **s.env}
    env.pop("PODSHIFT_ROOTLESS_USER", None)
    if action is None:
        argv = [sys.executable, "-m", "podshift.cli", "rollback", "--force", "--keep-data", "--project-dir", str(s.dir)]
        proc = subprocess.run(argv, env=env, cwd=s.root, capture_output=True, text=True, check=False, timeout=1800)
        if proc.returncode != 0:
            raise RuntimeError(f"rollback failed:\n{proc.stdout[-3000:]}")
    else:
        for argv in action:
            run(argv, cwd=s.dir, env=s.env, timeout=600).check()
    seconds = time.monotonic() - began
    deadline = time.monotonic() + 60
    while prober.back is None and prober.first_fail is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    prober.stop_at = True
    prober.join()
    return seconds, prober.downtime()


def floor_switch(s: Stack) -> tuple[float, float]:
    pc = PodmanComposeProvider(s.project, s.podman)
    dc = DockerComposeProvider(s.project, s.docker)
    try:
        stop = [*pc.base_argv(), "stop"]
        up = [*dc.base_argv(), "up", "-d", "--no-build", "--wait"]
        result = timed_switch(s, [stop, up])
    finally:
        pc.close()
    # Back to the Podman side for the rollback round: Docker's containers go, Podman's start again.
    dc._run("stop")
    for c in s.docker.project_containers(s.name):
        s.docker.remove_container(c.name)
    for n in s.docker.project_networks(s.name):
        s.docker.client.networks.get(n.id).remove()
    pc = PodmanComposeProvider(s.project, s.podman)
    try:
        pc.up()
    finally:
        pc.close()
    return result


def copy_pair(s: Stack) -> tuple[float, float, float]:
    """(cp -a + sync, the same then sha256sum of both trees, podshift's verified transfer) of the Podman api
    volume into fresh Docker volumes."""
    src = s.podman.volume(s.api_volume)
    assert src is not None
    floor_vol, ours = f"{s.name}-cpfloor-{uuid.uuid4().hex[:4]}", f"{s.name}-copy-{uuid.uuid4().hex[:4]}"
    s.extra_volumes += [floor_vol, ours]
    dst = s.docker.volume_create(floor_vol)
    run(["sync"]).check()
    began = time.monotonic()
    run(["cp", "-a", f"{src.mountpoint}/.", f"{dst.mountpoint}/"], timeout=600).check()
    run(["sync"]).check()
    floor = time.monotonic() - began
    vfloor_vol = f"{s.name}-vfloor-{uuid.uuid4().hex[:4]}"
    s.extra_volumes.append(vfloor_vol)
    vdst = s.docker.volume_create(vfloor_vol)
    run(["sync"]).check()
    began = time.monotonic()
    run(["sh", "-c", VERIFIED_CP, str(src.mountpoint), str(vdst.mountpoint)], timeout=600).check()
    verified_floor = time.monotonic() - began
    s.docker.volume_create(ours)
    run(["sync"]).check()
    began = time.monotonic()
    transfer_volume(VolumeRef(s.podman, s.api_volume), VolumeRef(s.docker, ours))
    run(["sync"]).check()
    return floor, verified_floor, time.monotonic() - began


def backup_pair(s: Stack) -> tuple[float, float]:
    """(backup of the data on Docker, snapshot of the same data on Podman), seconds."""
    run(["sync"]).check()
    began = time.monotonic()
    BackupStore(s.dir).create(s.project, s.docker, include_data=True, force=True, allow_fewer_volumes=True)
    backup = time.monotonic() - began
    run(["sync"]).check()
    began = time.monotonic()
    PodmanSnapshot(s.dir).create(s.project, s.podman, include_data=True, force=True, allow_fewer_volumes=True)
    return backup, time.monotonic() - began


def remove(s: Stack) -> None:
    take_down(s.podman, s.name)
    for v in [*s.project.named_volumes]:
        s.podman.volume_remove(v, force=True)
    for c in s.docker.project_containers(s.name):
        s.docker.remove_container(c.name)
    for n in s.docker.project_networks(s.name):
        s.docker.client.networks.get(n.id).remove()
    for v in [*s.project.named_volumes, *s.extra_volumes]:
        s.docker.volume_remove(v, force=True)
    shutil.rmtree(s.root, ignore_errors=True)


def med(values: list[float]) -> str:
    return f"{statistics.median(values):6.2f} s (min {min(values):.2f})"


def main() -> int:
    docker, podman = DockerRuntime(), PodmanRuntime.rootful()
    docker.ping()
    podman.ping()
    size_mib = (BIG * 4 * 2**20 + SMALL * 4096) / 2**20
    print(f"bench_rollback: {BIG} x 4 MiB + {SMALL} x 4 KiB = {size_mib:.0f} MiB in the api volume, {ROUNDS} rounds")
    s = make_stack(docker, podman)
    results: dict[str, list[float]] = {
        k: [] for k in ("floor", "floor_down", "rb", "rb_down", "cp", "vcp", "copy", "bk", "snap")
    }
    try:
        for i in range(ROUNDS):
            move_to_podman(s)
            seconds, down = floor_switch(s)
            results["floor"].append(seconds)
            results["floor_down"].append(down)
            cp, vcp, copy = copy_pair(s)
            results["cp"].append(cp)
            results["vcp"].append(vcp)
            results["copy"].append(copy)
            seconds, down = timed_switch(s, None)
            results["rb"].append(seconds)
            results["rb_down"].append(down)
            bk, snap = backup_pair(s)
            results["bk"].append(bk)
            results["snap"].append(snap)
            print(f"  round {i + 1}: rollback {seconds:.2f} s (down {down:.2f} s), floor {results['floor'][-1]:.2f} s, "
                  f"copy {copy:.2f} s vs cp {cp:.2f} s, snapshot {snap:.2f} s vs backup {bk:.2f} s")  # fmt: skip
    finally:
        remove(s)
    copy_ratio = statistics.median(results["copy"]) / statistics.median(results["cp"])
    snap_ratio = statistics.median(results["snap"]) / statistics.median(results["bk"])
    print(f"switch floor (podman-compose stop + docker compose up --wait): {med(results['floor'])}, "
          f"downtime {med(results['floor_down'])}")  # fmt: skip
    print(f"rollback --keep-data:                                       {med(results['rb'])}, "
          f"downtime {med(results['rb_down'])}")  # fmt: skip
    print(
        f"copy Podman -> Docker, verified: {med(results['copy'])} = {copy_ratio:.2f} x cp -a + sync "
        f"{med(results['cp'])} (target <= {COPY_TARGET}): {'met' if copy_ratio <= COPY_TARGET else 'NOT met'}"
    )
    vratio = statistics.median(results["copy"]) / statistics.median(results["vcp"])
    print(f"verified floor (cp -a + sync, sha256sum of both trees): {med(results['vcp'])}; podshift {vratio:.2f} x it")
    print(f"snapshot (Podman) {med(results['snap'])} = {snap_ratio:.2f} x backup (Docker) {med(results['bk'])}")
    print(f"load average {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
