"""Benchmark: a full serial prerequisites run against its floor, measured in this script.

floor  = bare ``pytest`` start-up on one empty test (same interpreter and
         plugins) + one ``docker info`` + one ``podman info``
full   = ``pytest checks -m prerequisites`` (serial) on the bundled example

Target (issue "Prerequisite checks"): full <= 2.5 x floor.  Each figure is the
median of several runs; the ratio, not the seconds, is what is asserted.
Run with ``tox -e bench``.
"""

from __future__ import annotations

import os
import pwd
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "phoenix-hydra"
TARGET = 2.5
RUNS = 5


def timed(argv: Sequence[str], cwd: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0, 1):  # 1: a NOT READY verdict is still a full run
        sys.exit(f"{' '.join(argv)} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return elapsed


def median_of(fn: object, runs: int = RUNS) -> float:
    return statistics.median(fn() for _ in range(runs))  # type: ignore[operator]


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        empty = Path(tmp)
        (empty / "test_empty.py").write_text("def test_nothing():\n    pass\n")
        pytest_startup = median_of(
            lambda: timed([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(empty)], empty)
        )
    docker_info = median_of(lambda: timed(["docker", "info"], REPO))
    # `podman info` as the user whose Podman the checks examine (root: rootful).
    user = os.environ.get("PODSHIFT_ROOTLESS_USER") if os.geteuid() == 0 else None
    podman = ["podman", "info"]
    if user:
        uid = pwd.getpwnam(user).pw_uid
        podman = ["runuser", "-u", user, "--", "env", f"XDG_RUNTIME_DIR=/run/user/{uid}", *podman]
    podman_info = median_of(lambda: timed(podman, REPO))
    floor = pytest_startup + docker_info + podman_info
    full = median_of(
        lambda: timed(
            [
                sys.executable,
                "-m",
                "pytest",
                "checks",
                "-m",
                "prerequisites",
                "-q",
                "-p",
                "no:cacheprovider",
                "--project-dir",
                str(EXAMPLE),
            ],
            REPO,
        )
    )
    ratio = full / floor
    print(
        f"pytest start-up {pytest_startup:.2f}s + docker info {docker_info:.2f}s + podman info "
        f"{podman_info:.2f}s = floor {floor:.2f}s"
    )
    print(f"full prerequisites run (serial): {full:.2f}s")
    print(f"ratio {ratio:.2f} (target <= {TARGET})  {'OK' if ratio <= TARGET else 'OVER TARGET'}")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
