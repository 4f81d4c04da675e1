"""Benchmark: `podshift backup --include-data` of a Docker volume against `tar -cf` of the same volume directory.

Data per size step: N x 4 MiB files + M x 4 KiB files (full size: 64 x 4 MiB + 20,000 x 4 KiB, ~335 MiB),
written into a real Docker volume.  For each of three sizes the script measures, in this process
(median of three runs each, after `sync` so no earlier write is still draining):
  baseline  tar -cf <tmp>.tar -C <volume mountpoint> .       (needs root: the volume directory)
  durable   the same tar -cf, then fsync of the archive      (what a backup must also do before it counts)
  podshift  BackupStore.create(include_data=True)            (hashing, fsync and verification included)
and reports the rate, both ratios and the peak memory of a backup run in a fresh child process.
Target (issue "Backup system"): podshift <= 1.5 x baseline at full size; memory flat as data grows.
The durable ratio is reported beside it: the disk's write speed, not podshift, sets much of the gap.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from pathlib import Path

from podshift.runtimes import DockerRuntime

TARGET = 1.5
SIZES = [(16, 5000), (32, 10000), (64, 20000)]
RUNS = 3


def fill(runtime: DockerRuntime, volume: str, big: int, small: int) -> None:
    def stream():  # type: ignore[no-untyped-def]
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w|") as tar:
            for i in range(big):
                data = os.urandom(4 << 20)
                info = tarfile.TarInfo(f"big/{i}.bin")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
                yield buf.getvalue()
                buf.seek(0)
                buf.truncate()
            for i in range(small):
                data = os.urandom(4096)
                info = tarfile.TarInfo(f"small/{i // 1000}/{i}.dat")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
                if i % 500 == 0:
                    yield buf.getvalue()
                    buf.seek(0)
                    buf.truncate()
        yield buf.getvalue()

    runtime.volume_import(volume, stream())


CHILD = """
import json, resource, sys, time
from pathlib import Path
from podshift.backup.store import BackupStore
from podshift.compose.model import load_project
from podshift.runtimes import DockerRuntime
project = load_project(sys.argv[1])
rt = DockerRuntime()
t = time.perf_counter()
m = BackupStore(project.project_dir).create(project, rt, include_data=True, force=True)
elapsed = time.perf_counter() - t
print(json.dumps({"seconds": elapsed, "bytes": sum(a.size for a in m.archives),
                  "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def tar_baseline(mountpoint: str, out: Path) -> tuple[float, float, int]:
    """Seconds for `tar -cf` of the volume directory, and for the same followed by an fsync; the archive's size."""
    subprocess.run(["sync"], check=True)
    t = time.perf_counter()
    subprocess.run(["tar", "-cf", str(out), "-C", mountpoint, "."], check=True)
    plain = time.perf_counter() - t
    fd = os.open(out, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    durable = time.perf_counter() - t
    size = out.stat().st_size
    out.unlink()
    return plain, durable, size


def main() -> int:
    runtime = DockerRuntime()
    runtime.ping()
    results = []
    for big, small in SIZES:
        name = f"psbench{uuid.uuid4().hex[:6]}"
        volume = f"{name}_data"
        root = Path(tempfile.mkdtemp(prefix="podshift-bench-"))
        (root / "compose.yaml").write_text(
            f"name: {name}\nservices:\n  app:\n    image: localhost/podshift-helper:1\n    volumes: [data:/data]\n"
            "volumes:\n  data: {}\n"
        )
        runtime.volume_create(volume, {"com.docker.compose.project": name})
        try:
            fill(runtime, volume, big, small)
            mountpoint = runtime.volume(volume).mountpoint  # type: ignore[union-attr]
            baselines, durables, runs = [], [], []
            for _ in range(RUNS):
                plain, durable, size = tar_baseline(mountpoint, root / "baseline.tar")
                baselines.append(plain)
                durables.append(durable)
                subprocess.run(["sync"], check=True)
                child = subprocess.run(
                    [sys.executable, "-c", CHILD, str(root)], capture_output=True, text=True, check=True
                )
                runs.append(json.loads(child.stdout.strip().splitlines()[-1]))
            baseline, durable = statistics.median(baselines), statistics.median(durables)
            seconds = statistics.median(r["seconds"] for r in runs)
            rss = max(r["maxrss_kib"] for r in runs)
            results.append((size, baseline, seconds, rss))
            print(
                f"{size / 2**20:7.1f} MiB: tar -cf {baseline:5.2f}s ({size / baseline / 2**20:6.1f} MiB/s), "
                f"+fsync {durable:5.2f}s; podshift {seconds:5.2f}s ({size / seconds / 2**20:6.1f} MiB/s), "
                f"ratio {seconds / baseline:4.2f} (durable {seconds / durable:4.2f}), peak RSS {rss / 1024:.0f} MiB"
            )
        finally:
            runtime.volume_remove(volume, force=True)
            shutil.rmtree(root, ignore_errors=True)
    size, baseline, seconds, _ = results[-1]
    ratio = seconds / baseline
    rss = [r[3] for r in results]
    flat = max(rss) - min(rss) < 64 * 1024  # less than 64 MiB of growth from 1/4 to full size
    print(
        f"full size ratio {ratio:.2f} (target <= {TARGET}) {'OK' if ratio <= TARGET else 'OVER TARGET'}; "
        f"memory {'flat' if flat else 'GROWS'} ({min(rss) // 1024}-{max(rss) // 1024} MiB)"
    )
    return 0 if ratio <= TARGET and flat else 1


if __name__ == "__main__":
    sys.exit(main())
