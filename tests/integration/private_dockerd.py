"""A private Docker daemon for tests that need an engine to go down: the host's dockerd is never touched.

It has its own socket, data root, exec root and pidfile, no iptables or
masquerading rules, and its own bridge (made here with ``ip link``, removed
afterwards).  Never ``--bridge none``: a daemon started so removed the host
daemon's ``docker0`` (shared/ENGINES.md, "Engine-down tests").
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass
class PrivateDockerd:
    root: Path
    bridge: str
    proc: subprocess.Popen[bytes]

    @property
    def socket(self) -> Path:
        return self.root / "docker.sock"

    @property
    def host(self) -> str:
        """A ``DOCKER_HOST`` value naming this daemon."""
        return f"unix://{self.socket}"

    def answers(self) -> bool:
        probe = subprocess.run(
            ["docker", "-H", self.host, "version", "--format", "{{.Server.Version}}"],
            capture_output=True,
            check=False,
            timeout=30,
        )
        return probe.returncode == 0

    def stop(self) -> None:
        """Stop this daemon (only this one: its own pid), waiting for it to exit."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)


def _stop_leftover_containerd(root: Path) -> None:
    """The daemon's managed containerd, should it outlive the daemon (only if its command line names *root*)."""
    with contextlib.suppress(OSError, ValueError):
        pid = int((root / "exec" / "containerd" / "containerd.pid").read_text().strip())
        if str(root) in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"):
            os.kill(pid, signal.SIGTERM)


@contextlib.contextmanager
def private_dockerd(subnet_prefix: str = "10.9") -> Iterator[PrivateDockerd]:
    """Start a private dockerd; stop it and remove its bridge and directories afterwards."""
    if not shutil.which("dockerd") or not shutil.which("ip"):
        raise RuntimeError("dockerd and ip (iproute2) are needed: scripts/provision-engines.sh installs them")
    # Short path: containerd's sockets live under the exec root, and unix socket paths are limited to 108 bytes.
    root = Path(tempfile.mkdtemp(prefix="i9-dd-", dir="/tmp"))
    bridge = f"i9br{secrets.token_hex(3)}"  # at most 15 characters
    address = f"{subnet_prefix}.{secrets.randbelow(200) + 20}.1/24"
    subprocess.run(["ip", "link", "add", bridge, "type", "bridge"], check=True)
    proc: subprocess.Popen[bytes] | None = None
    try:
        subprocess.run(["ip", "addr", "add", address, "dev", bridge], check=True)
        subprocess.run(["ip", "link", "set", bridge, "up"], check=True)
        log = open(root / "dockerd.log", "wb")  # noqa: SIM115 - handed to the daemon, closed below
        argv = [
            "dockerd",
            "-H",
            f"unix://{root / 'docker.sock'}",
            "--data-root",
            str(root / "data"),
            "--exec-root",
            str(root / "exec"),
            "--pidfile",
            str(root / "docker.pid"),
            "--iptables=false",
            "--ip-masq=false",
            "--bridge",
            bridge,
        ]
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        daemon = PrivateDockerd(root, bridge, proc)
        deadline = time.monotonic() + 60
        while not daemon.answers():
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = (root / "dockerd.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"the private dockerd did not start:\n{tail}")
            time.sleep(0.3)
        yield daemon
    finally:
        if proc is not None:
            PrivateDockerd(root, bridge, proc).stop()
            _stop_leftover_containerd(root)
        subprocess.run(["ip", "link", "del", bridge], check=False)
        subprocess.run(["umount", "-R", str(root / "data")], check=False, capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
