"""Ctrl-C in the middle of a migration, as a user at a terminal presses it.

The terminal sends SIGINT to the whole foreground process group (podshift,
its tar and podman children).  What must hold: no traceback, one last line
that says where it stopped and what to run, the journal says the same,
Docker still serves (the stop had not come), and the same command again
finishes the job.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from podshift.runtimes import DockerRuntime, PodmanRuntime
from podshift.steps import StepJournal
from podshift.volumes.transfer import VolumeRef, snapshot

from .conftest import http
from .test_migrate import assert_migrated, clean_env, make_stack, migrate_cli, remove_stack

pytestmark = pytest.mark.xdist_group("migrate")


def _interrupt_when_copying(project: Path, volume: str, work: Path, timeout: float = 600) -> tuple[int, str]:
    """Start ``podshift migrate``; SIGINT its process group once the volume copy is under way."""
    argv = [sys.executable, "-m", "podshift.cli", "migrate", "--project-dir", str(project)]
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(argv, cwd=work, env=clean_env(), stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip
        journal = project / ".podshift" / "migrate.json"
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    step = json.loads(journal.read_text())["steps"].get("volumes-bulk-copy", {})
                except (OSError, ValueError):
                    step = {}
                if step.get("state") == "running" and volume in step.get("data", {}).get("created", []):
                    time.sleep(0.5)
                    os.killpg(proc.pid, signal.SIGINT)
                    break
                time.sleep(0.05)
            else:
                raise AssertionError(f"the copy never started (rc {proc.poll()})")
            rc = proc.wait(timeout=120)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        out.seek(0)
        return rc, out.read().decode("utf-8", "replace")


def test_ctrl_c_during_the_copy_stops_cleanly_and_the_same_command_finishes(
    docker_runtime: DockerRuntime, podman_runtime: PodmanRuntime
) -> None:
    if podman_runtime.rootless:
        pytest.skip("rootful Podman needs root")
    s = make_stack(docker_runtime, big_mib=200)
    work = Path(tempfile.mkdtemp(prefix="i11-run-"))
    try:
        digest = snapshot(VolumeRef(s.docker, s.volume)).digest()
        rc, output = _interrupt_when_copying(s.dir, s.volume, work)
        assert rc != 0, output[-3000:]
        assert "Traceback" not in output, output[-3000:]
        last = output.rstrip().splitlines()[-1]
        assert last.startswith("podshift migrate: FAILED at step volumes-bulk-copy"), output[-3000:]
        assert "podshift migrate" in last.partition("next:")[2], last  # says what to run
        assert StepJournal.open(s.dir, "migrate").state("volumes-bulk-copy") == "failed"
        # The stop had not come: Docker still serves, with every record.
        served = http(s.url("api", "/cgi-bin/records"))
        assert all(r in served for r in s.records)

        again = migrate_cli(s.dir, cwd=work)
        assert again.returncode == 0, again.stdout[-4000:]
        assert "podshift migrate: DONE" in again.stdout
        assert_migrated(s, podman_runtime, digest)
    finally:
        remove_stack(s, podman_runtime)
        shutil.rmtree(work, ignore_errors=True)
