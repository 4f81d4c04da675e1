"""Benchmark: a verified volume move Docker -> Podman against ``cp -a SRC/. DST/ && sync``, and its memory.

Data (as the issue "Migration" asks): 64 x 4 MiB half-random files + 20,000 x 4 KiB files (~335 MiB), and
a quarter of it (16 x 4 MiB + 5,000 x 4 KiB, ~86 MiB) for the memory figure, written into a real Docker
volume.  Measured in this process, median (and minimum) of three runs, each into a fresh target volume,
floor and podshift in alternating order, the copies removed only after both were timed:

  floor     cp -a <docker mountpoint>/. <podman mountpoint>/ && sync          (root, rootful Podman)
  verified  the same, then sha256sum of every file of both trees (two pipelines at once): the floor of
            any copy that is checked byte for byte, with the standard tools
  podshift  transfer_volume: copy + verification (sha256 of every file on both sides, owners, modes, links,
            xattrs, the top directory), as a migration's final pass and a rollback's step 4 run it
  rootless  the same into the rootless user's volume (path reported: podman unshare + tar)

and the peak RSS of a copy+verify in a fresh child process at both sizes (flat within 10% expected).
Targets: podshift <= 1.5 x floor (rootful); rootless ratio reported.  The disk is shared with other work:
medians beside minimums.

Downtime: the reference stack deployed on Docker with an empty api volume, and with ~335 MiB in it; a
``podshift migrate`` (rootful) while the api's /health on 127.0.0.1 is probed every 100 ms.  The api
fails twice during a migration: while the backup reads the data with its writers stopped (the issue's
step 2), and from Docker's stop to Podman serving (the switch).  Each outage is first failed to first
good request; the downtime is their sum.  Target: with data <= 2 x empty (medians of three alternating runs; a
deploy and a migration take about a minute each); the switch's outage alone is reported beside it.
Beside both, the Compose-only floor of each run, on the same stack once migrated: Docker's containers
made again, then (probed the same way)
``docker compose stop`` + removal of its networks (a stopped Docker bridge keeps its subnet, which
Podman's bridge shares) + the prepared Podman stack started to healthy (podshift's podman-compose
driver, as the migration starts it).

BENCH_PREFIX (default i11-bench) names every volume, project and image it creates; BENCH_NET (default
10.11) is the first two octets of the stacks' subnets.
"""

from __future__ import annotations

import json
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
from collections.abc import Callable
from pathlib import Path

from podshift import drill
from podshift.commands import run
from podshift.compose import load_project, provider_for
from podshift.engines import podman_runtime_for
from podshift.migration.stack import stop_docker_stack
from podshift.runtimes import DockerRuntime, PodmanRuntime
from podshift.volumes.transfer import VolumeRef, access, transfer_volume

TARGET = 1.5
#: The same copy verified with the standard tools: cp -a, sync, then sha256sum of every file of both trees
#: (two pipelines at once, one per core).  Any verified copy reads both sides once: this is its floor here.
VERIFIED_CP = (
    'cp -a "$0"/. "$1"/ && sync && '
    '{ find "$0" -type f -print0 | xargs -0 -r sha256sum >/dev/null & '
    'find "$1" -type f -print0 | xargs -0 -r sha256sum >/dev/null; wait; }'
)
RUNS = 3
FULL, QUARTER = (64, 20000), (16, 5000)
PREFIX = os.environ.get("BENCH_PREFIX", "i11-bench")
NET = os.environ.get("BENCH_NET", "10.11")


def fill(root: Path, big: int, small: int) -> None:
    (root / "big").mkdir()
    for i in range(big):
        half = os.urandom(2 << 20)
        (root / "big" / f"{i}.bin").write_bytes(half + bytes(2 << 20))  # half random, half zeros
    for i in range(small):
        d = root / "small" / str(i // 1000)
        d.mkdir(parents=True, exist_ok=True)
        (d / f"{i}.dat").write_bytes(os.urandom(4096))
    os.chown(root / "small", 999, 999)
    subprocess.run(["sync"], check=True)


def timed(fn: Callable[[], object]) -> float:
    subprocess.run(["sync"], check=True)
    start = time.monotonic()
    fn()
    return time.monotonic() - start


def stats(values: list[float]) -> str:
    return f"median {statistics.median(values):.2f} s, min {min(values):.2f} s"


def measure(docker: DockerRuntime, source: str, target_rt: PodmanRuntime, label: str) -> dict[str, object]:
    """Floor and podshift, each into its own fresh volume, in alternating order; the copies go after both.

    (Removing a 335 MiB copy right before a timed run would charge that run with the deletion's writeback
    and discards: whichever came second would pay for the first.)
    """
    floor: list[float] = []
    verified_floor: list[float] = []
    ours: list[float] = []
    method = ""
    made: list[str] = []
    try:
        for i in range(RUNS):
            names = [f"{PREFIX}-{uuid.uuid4().hex[:8]}" for _ in range(3)]
            for name in names:
                target_rt.volume_create(name)
                made.append(name)
            src = access(VolumeRef(docker, source)).mountpoint
            dst = access(VolumeRef(target_rt, names[0])).mountpoint
            cp = ["sh", "-c", 'cp -a "$0"/. "$1"/ && sync', str(src), str(dst)]
            vdst = access(VolumeRef(target_rt, names[2])).mountpoint
            vcp = ["sh", "-c", VERIFIED_CP, str(src), str(vdst)]
            target = VolumeRef(target_rt, names[1])

            def move(target: VolumeRef = target) -> None:
                nonlocal method
                result, verification = transfer_volume(VolumeRef(docker, source), target)  # raises on a mismatch
                method = result.method
                assert verification.ok, verification.difference

            def copy(cp: list[str] = cp) -> None:
                subprocess.run(cp, check=True)

            def verified_copy(vcp: list[str] = vcp) -> None:
                subprocess.run(vcp, check=True)

            # The rootless user's volume directory is not the one its containers see: no cp floor there.
            jobs = [(ours, move)]
            if not target_rt.rootless:
                jobs += [(floor, copy), (verified_floor, verified_copy)]
            for into, job in jobs[i % len(jobs) :] + jobs[: i % len(jobs)]:  # each goes first in turn
                into.append(timed(job))
            for name in names:
                target_rt.volume_remove(name, force=True)
                made.remove(name)
            subprocess.run(["sync"], check=True)
    finally:
        for name in made:
            target_rt.volume_remove(name, force=True)
    return {"label": label, "floor": floor, "verified_floor": verified_floor, "podshift": ours, "method": method}


CHILD = """
import resource, sys
from podshift.engines import podman_runtime_for
from podshift.migration.stack import stop_docker_stack
from podshift.runtimes import DockerRuntime
from podshift.volumes.transfer import VolumeRef, transfer_volume
docker, podman = DockerRuntime(), podman_runtime_for("root")
podman.volume_create(sys.argv[2])
try:
    assert transfer_volume(VolumeRef(docker, sys.argv[1]), VolumeRef(podman, sys.argv[2]))[1].ok
finally:
    podman.volume_remove(sys.argv[2], force=True)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def peak_rss_mib(source: str) -> float:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, source, f"{PREFIX}-{uuid.uuid4().hex[:8]}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(out.stdout.strip().splitlines()[-1]) / 1024


REPO = Path(__file__).resolve().parents[1]


def free_ports(n: int) -> list[int]:
    """*n* distinct free ports on 127.0.0.1: in BENCH_PORTS ("low-high") when set, else any the kernel picks."""
    low, _, high = os.environ.get("BENCH_PORTS", "0-0").partition("-")
    span = range(int(low), int(high) + 1)
    return drill.free_ports(n, random.sample(span, len(span)) if int(high) else None)


def deploy(docker: DockerRuntime, root: Path, data: tuple[int, int] | None) -> tuple[Path, int]:
    """phoenix-hydra on Docker under unique names; (project dir, api port)."""
    name = f"{PREFIX}-{uuid.uuid4().hex[:8]}"
    stack = root / name
    shutil.copytree(REPO / "examples" / "phoenix-hydra", stack)
    compose = stack / "docker-compose.yml"
    text = compose.read_text().replace("name: phoenix-hydra", f"name: {name}")
    compose.write_text(text.replace("localhost/phoenix-hydra-", f"localhost/{name}-"))
    ports = dict(zip(("API", "WEB", "GATEWAY", "WORKER"), free_ports(4), strict=True))
    (root / f"{name}-data").mkdir()
    env = [f"PHOENIX_{k}_PORT={v}" for k, v in ports.items()]
    env += [f"PHOENIX_SUBNET={NET}.{random.randint(150, 250)}.0/24", f"PHOENIX_DATA_DIR={root}/{name}-data"]  # noqa: S311
    (stack / ".env").write_text("\n".join(env) + "\n")
    run([str(stack / "compose/base/build-base.sh"), "docker"], timeout=300).check()
    provider = provider_for(load_project(stack), docker)
    try:
        provider.up()
    finally:
        provider.close()
    if data is not None:
        mp = access(VolumeRef(docker, f"{name}_api-data")).mountpoint
        assert mp is not None
        (mp / "bench").mkdir()
        fill(mp / "bench", *data)
    return stack, ports["API"]


def probe(port: int, stop: threading.Event, samples: list[tuple[float, bool]]) -> None:
    while not stop.is_set():
        t = time.monotonic()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=0.5) as r:
                ok = r.status == 200
        except OSError:
            ok = False
        samples.append((t, ok))
        stop.wait(max(0.0, 0.1 - (time.monotonic() - t)))


def probed(port: int, action: Callable[[], None]) -> list[float]:
    """The api's outages while *action* runs (first failed to first good probe, each time; [] when none)."""
    samples: list[tuple[float, bool]] = []
    stop = threading.Event()
    thread = threading.Thread(target=probe, args=(port, stop, samples))
    thread.start()
    try:
        action()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (samples and samples[-1][1]):
            time.sleep(0.1)
    finally:
        stop.set()
        thread.join()
    spans, still_down_since = drill.outages(samples)
    if still_down_since is not None:  # never came back within the wait: counted up to the last probe
        spans.append(samples[-1][0] - still_down_since)
    return spans


def downtime(docker: DockerRuntime, root: Path, data: tuple[int, int] | None) -> tuple[list[float], float | None]:
    """(the outages of ``podshift migrate``, the downtime of the Compose-only switch of the same stack)."""
    stack, port = deploy(docker, root, data)

    def migrate() -> None:
        env = {k: v for k, v in os.environ.items() if k != "PODSHIFT_ROOTLESS_USER"}
        argv = [sys.executable, "-m", "podshift.cli", "migrate", "--project-dir", str(stack)]
        done = subprocess.run(argv, cwd=root, env=env, capture_output=True, text=True, timeout=900, check=False)
        if done.returncode != 0:
            raise RuntimeError(done.stdout[-2000:])

    try:
        ours = probed(port, migrate)
        floor = compose_floor(docker, stack, port)
    finally:
        teardown(docker, stack)
    return ours, floor


def compose_floor(docker: DockerRuntime, stack: Path, port: int) -> float | None:
    """The migrated stack back on Docker (untimed), then ``docker compose stop`` + Podman's start to healthy."""
    project = load_project(stack)
    podman = podman_runtime_for("root")
    on_docker, on_podman = provider_for(project, docker), provider_for(project, podman)
    try:
        on_podman.stop()
        # The migration removed Docker's network: its containers go too, and are made again on its volumes.
        on_docker.down()
        on_docker.up(build=False)

        def switch() -> None:
            # `docker compose stop` plus the removal of Docker's networks: a stopped Docker bridge keeps its
            # subnet, and Podman's bridge of the same subnet is then unreachable (as the migration does).
            stop_docker_stack(docker, project)
            on_podman.up(build=False)

        return sum(probed(port, switch))
    except Exception as e:  # the floor is a reference figure: report it missing rather than lose the run
        print(f"compose floor: {e}")
        return None
    finally:
        on_docker.close()
        on_podman.close()
        podman.close()


def teardown(docker: DockerRuntime, stack: Path) -> None:
    project = load_project(stack)
    podman = podman_runtime_for("root")
    for runtime in (docker, podman):
        provider = provider_for(project, runtime)
        try:
            provider.down(volumes=True)
        except Exception as e:
            print(f"teardown: {e}")
        finally:
            provider.close()
        for v in project.named_volumes:  # podman-compose down -v leaves the volumes the migration made
            runtime.volume_remove(v, force=True)
        for service in project.services.values():
            if service.image:
                runtime.image_remove(service.image)
    podman.close()


def _runs(runs: list[list[float]]) -> str:
    return "[" + ", ".join("+".join(f"{o:.2f}" for o in run) or "none" for run in runs) + "]"


def main() -> int:
    if os.geteuid() != 0:
        print("bench_migrate: needs root (the floor copies between the engines' volume directories)")
        return 0
    docker = DockerRuntime()
    rootful = podman_runtime_for("root")
    rootless_user = os.environ.get("PODSHIFT_ROOTLESS_USER")
    volumes = {}
    try:
        for label, (big, small) in (("full", FULL), ("quarter", QUARTER)):
            name = f"{PREFIX}-src-{uuid.uuid4().hex[:8]}"
            docker.volume_create(name)
            volumes[label] = name
            mp = access(VolumeRef(docker, name)).mountpoint
            assert mp is not None
            fill(mp, big, small)
        results = [measure(docker, volumes["full"], rootful, "docker -> rootful podman")]
        if rootless_user:
            results.append(measure(docker, volumes["full"], podman_runtime_for(rootless_user), "docker -> rootless"))
        floor = statistics.median(results[0]["floor"])  # type: ignore[arg-type]
        report: dict[str, object] = {"floor_cp_a_sync": floor}
        ok = True
        for r in results:
            ours = statistics.median(r["podshift"])  # type: ignore[arg-type]
            ratio = ours / floor
            print(f"{r['label']}: podshift ({r['method']}) {stats(r['podshift'])}; ratio {ratio:.2f} x floor")  # type: ignore[arg-type]
            report[str(r["label"])] = {"median": ours, "ratio": ratio, "method": r["method"]}
        print(f"floor cp -a && sync: {stats(results[0]['floor'])}; load average {os.getloadavg()}")  # type: ignore[arg-type]
        vfloor = statistics.median(results[0]["verified_floor"])  # type: ignore[arg-type]
        print(
            f"verified floor (cp -a && sync, then sha256sum of both trees): {stats(results[0]['verified_floor'])} "  # type: ignore[arg-type]
            f"= {vfloor / floor:.2f} x floor; podshift = {statistics.median(results[0]['podshift']) / vfloor:.2f} x it"  # type: ignore[arg-type]
        )
        report["verified_floor"] = vfloor
        rootful_ratio = statistics.median(results[0]["podshift"]) / floor  # type: ignore[arg-type]
        ok = rootful_ratio <= TARGET
        quarter, full = peak_rss_mib(volumes["quarter"]), peak_rss_mib(volumes["full"])
        flat = abs(full - quarter) / quarter <= 0.10
        shape = "flat" if flat else "NOT flat"
        print(f"peak RSS: {quarter:.1f} MiB at ~86 MiB of data, {full:.1f} MiB at ~335 MiB ({shape})")
        report["peak_rss_mib"] = {"quarter": quarter, "full": full}
        root = Path(tempfile.mkdtemp(prefix=f"{PREFIX}-"))
        try:
            # Alternating, medians of three: the machine's load drifts over minutes.
            empties: list[list[float]] = []
            fulls: list[list[float]] = []
            floors: list[float] = []
            for _ in range(RUNS):
                for data, into in ((None, empties), (FULL, fulls)):
                    ours_dt, floor_dt = downtime(docker, root, data)
                    into.append(ours_dt)
                    if floor_dt is not None:
                        floors.append(floor_dt)
        finally:
            shutil.rmtree(root, ignore_errors=True)
        # The migration's outages: the backup's (its services stop while their data is read) and the switch
        # (Docker stopped -> Podman serving).  The downtime is their sum; each is reported too.
        dt_empty, dt_full = statistics.median(map(sum, empties)), statistics.median(map(sum, fulls))
        dt_ratio = dt_full / max(dt_empty, 0.1)
        dt_floor = statistics.median(floors) if floors else None
        switch_empty = statistics.median(o[-1] for o in empties if o)
        switch_full = statistics.median(o[-1] for o in fulls if o)
        print(
            f"downtime (sum of the api's outages): median {dt_empty:.2f} s with an empty volume, {dt_full:.2f} s "
            f"with ~335 MiB ({dt_ratio:.2f} x); outages per run {_runs(empties)} / {_runs(fulls)}; the switch alone "
            f"(the last outage) {switch_empty:.2f} s / {switch_full:.2f} s ({switch_full / switch_empty:.2f} x); "
            "Compose-only floor (docker compose stop + prepared Podman stack to healthy): "
            + (f"median {dt_floor:.2f} s (runs {[round(x, 2) for x in floors]})" if dt_floor is not None else "failed")
        )
        report["downtime"] = {
            "outages_empty": empties,
            "outages_full": fulls,
            "ratio": dt_ratio,
            "switch_ratio": switch_full / switch_empty,
            "compose_floor": floors,
        }
        print(json.dumps(report))
        good = ok and flat and dt_ratio <= 2
        targets = f"move <= {TARGET} x floor, memory within 10%, downtime <= 2 x"
        print(f"bench_migrate: {'OK' if good else 'OVER TARGET'} ({targets})")
        return 0 if good else 1
    finally:
        for name in volumes.values():
            docker.volume_remove(name, force=True)
        docker.close()


if __name__ == "__main__":
    sys.exit(main())
