"""Benchmark: a full serial prerequisites run against its floor, measured in this script.

floor  = bare ``pytest`` start-up on one empty test (same interpreter and
         plugins) + one ``docker info`` + one ``podman info``
full   = ``pytest checks -m prerequisites`` (serial) on the bundled example
backup = the same run on a copy of the example with a real backup present
         (data included): 335 MiB (64 x 4 MiB + 20,000 x 4 KiB files) and
         3 GiB (one dense 3 GiB file; the backup's archive holds all of it,
         which a re-hashing check would read)

Target: every run <= 2.5 x floor, whatever the backup's size (the backup
check trusts the deep verification `podshift backup` recorded for the very
same files, see podshift.backup.trust).  The deep verification a check used
to repeat on every run is timed once beside it.  Each figure is the median
of several runs; the ratio, not the seconds, is what is asserted.
Run with ``tox -e bench``.
"""

from __future__ import annotations

import os
import pwd
import shutil
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


def timed(argv: Sequence[str], cwd: Path, env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False, env=env)
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0, 1, 3):  # 1 NOT READY, 3 a check errored: still a full run
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
    print(
        f"pytest start-up {pytest_startup:.2f}s + docker info {docker_info:.2f}s + podman info "
        f"{podman_info:.2f}s = floor {floor:.2f}s"
    )
    ok = report("full prerequisites run (serial), no backup", full, floor)
    for label, make in (("335 MiB", _data_335_mib), ("3 GiB", _data_3_gib)):
        ok = with_backup(label, make, floor) and ok
    return 0 if ok else 1


def report(what: str, seconds: float, floor: float) -> bool:
    ratio = seconds / floor
    print(f"{what}: {seconds:.2f}s, ratio {ratio:.2f} (target <= {TARGET})  {'OK' if ratio <= TARGET else 'OVER'}")
    return ratio <= TARGET


def _data_335_mib(data: Path) -> None:
    for i in range(64):
        (data / f"big-{i:02d}").write_bytes(os.urandom(4 << 20))
    small = data / "small"
    small.mkdir()
    for i in range(20_000):
        (small / f"f{i:05d}").write_bytes(os.urandom(4096))


def _data_3_gib(data: Path) -> None:
    # Dense: backups keep sparse files sparse, so holes would leave the archive small.
    block = os.urandom(1 << 20)
    with open(data / "disk.img", "wb") as f:
        for _ in range(3 << 10):
            f.write(block)


def with_backup(label: str, make_data: object, floor: float) -> bool:
    """A readiness run with a *label* backup present (made by podshift itself)."""
    from podshift.backup.store import BackupStore
    from podshift.compose.model import load_project
    from podshift.runtimes import DockerRuntime

    with tempfile.TemporaryDirectory(prefix="i15-bench-") as tmp:
        root = Path(tmp)
        project_dir = root / "stack"
        shutil.copytree(REPO / "examples" / "phoenix-hydra", project_dir)
        data = root / "data"
        data.mkdir()
        make_data(data)  # type: ignore[operator]
        env = {**os.environ, "PHOENIX_DATA_DIR": str(data), "PODSHIFT_STATE_DIR": str(root / "state")}
        os.environ.update({k: env[k] for k in ("PHOENIX_DATA_DIR", "PODSHIFT_STATE_DIR")})
        project = load_project(project_dir, project_name="i15-bench", env=env)
        docker = DockerRuntime()
        try:
            start = time.perf_counter()
            # The data is bind-mounted (PHOENIX_DATA_DIR); the stack never ran, so its named volumes do not exist.
            BackupStore(project_dir).create(project, docker, include_data=True, force=False, allow_fewer_volumes=True)
            made = time.perf_counter() - start
        finally:
            docker.close()
        size = sum(p.stat().st_size for p in (project_dir / ".docker-backup").rglob("*") if p.is_file())
        start = time.perf_counter()
        problems = BackupStore(project_dir).verify()
        deep = time.perf_counter() - start
        if problems:
            sys.exit(f"the {label} backup does not verify: {problems[:3]}")
        argv = [sys.executable, "-m", "pytest", "checks", "-m", "prerequisites", "-q", "-p", "no:cacheprovider"]
        argv += ["--project-dir", str(project_dir)]
        run = median_of(lambda: timed(argv, REPO, env), runs=3)
        print(
            f"backup of {size / (1 << 20):.0f} MiB ({label}): made in {made:.1f}s; a deep verification "
            f"(what the check re-did on every run before) takes {deep:.2f}s = {deep / floor:.2f} x floor"
        )
        for key in ("PHOENIX_DATA_DIR", "PODSHIFT_STATE_DIR"):
            os.environ.pop(key, None)
        return report(f"prerequisites run with the {label} backup present", run, floor)


if __name__ == "__main__":
    sys.exit(main())
