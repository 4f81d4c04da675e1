"""aardvark-dns entries that outlived their network, and the bridge they left in the rootless netns.

Seen on Podman 4.3.1 / aardvark-dns 1.4 (the failure is induced in
tests/integration/test_recovery_dns.py): a container whose start fails after
netavark set up its network (rootlessport refusing a privileged port) keeps
its entry in ``<aardvark dir>/<network>`` after the container and the network
are removed.  The next network of that Podman gets the same gateway
(10.89.0.1); aardvark-dns serves that address from the stale file and answers
NXDOMAIN for every new container's name.  When the new network got another
bridge, the failed container's bridge also stays in the rootless network
namespace with the same address and route, and queries time out instead.

The repair removes the files of networks that no longer exist, signals
aardvark-dns to reload (SIGHUP, as netavark does) and deletes such a
leftover bridge.  The aardvark dir belongs to the engine's user: its content
is hostile, so it is read and changed through a directory fd, never following
a symlink, and the pid file only names a process that podshift checks is that
user's aardvark-dns for that very directory before it signals it.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import signal
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from podshift.recovery.engines import podman as podman_cli
from podshift.runtimes import PodmanRuntime

#: aardvark-dns's own file in its config dir (not a network).
PID_FILE = "aardvark.pid"
#: A config file larger than this is not aardvark-dns's (a hostile or broken one): named, not parsed.
MAX_FILE = 1 << 20
ROOTFUL_DIR = Path("/run/containers/networks/aardvark-dns")


@dataclass(frozen=True)
class DnsEntry:
    """One container line of an aardvark-dns network file: ``ID IPV4S IPV6S NAMES``."""

    container_id: str
    ipv4: tuple[str, ...]
    ipv6: tuple[str, ...]
    names: tuple[str, ...]


@dataclass(frozen=True)
class DnsConfig:
    """An aardvark-dns network file: the gateway addresses it serves on, then one line per container."""

    gateways: tuple[str, ...]
    entries: tuple[DnsEntry, ...]


def _split(field: str) -> tuple[str, ...]:
    return tuple(p for p in field.split(",") if p)


def parse_config(text: str) -> DnsConfig:
    """Parse an aardvark-dns 1.x network file (unparseable lines are skipped: the file is hostile).

    The first line lists the gateways (comma-separated; later versions append
    DNS servers after a space).  Each further line is ``ID IPV4S IPV6S NAMES``
    separated by single spaces, an empty field where a container has no address
    of that family (``ID 10.89.0.2  name,alias``).
    """
    lines = text.splitlines()
    gateways = _split(lines[0].split(" ")[0]) if lines else ()
    entries = []
    for line in lines[1:]:
        fields = line.split(" ")
        if len(fields) < 4 or not fields[0]:
            continue
        entries.append(DnsEntry(fields[0], _split(fields[1]), _split(fields[2]), _split(fields[3])))
    return DnsConfig(gateways, tuple(entries))


@dataclass(frozen=True)
class StaleDns:
    """What is stale in one aardvark-dns file.

    ``network_gone``: the whole file belongs to a network that no longer
    exists (the repair removes it); otherwise ``entries`` are containers that
    no longer exist in a live network's file (named only: netavark rewrites
    that file itself when the network is next used).
    """

    network: str
    network_gone: bool
    gateways: tuple[str, ...]
    entries: tuple[DnsEntry, ...]

    def describe(self, directory: Path) -> str:
        path = directory / self.network
        names = ", ".join(e.names[0] for e in self.entries if e.names) or "no container"
        if self.network_gone:
            gw = "/".join(self.gateways) or "no gateway"
            return f"{path} belongs to network {self.network}, which no longer exists (gateway {gw}, entries: {names})"
        return f"{path} names containers that no longer exist: {names}"


def stale_dns(listing: Mapping[str, str], networks: Iterable[str], containers: Iterable[str]) -> list[StaleDns]:
    """The stale aardvark-dns files among *listing* (file name -> content).

    *networks* are the names of the networks the engine has, *containers* the
    ids (full or short) of every container it has.  A file is stale when its
    network is gone; in a live network's file, an entry is stale when no
    container has its id.
    """
    have_networks = set(networks)
    ids = set(containers)

    def exists(cid: str) -> bool:
        return cid in ids or any(i.startswith(cid) or cid.startswith(i) for i in ids if len(i) >= 12)

    found = []
    for name, text in sorted(listing.items()):
        if name == PID_FILE or name.startswith("."):
            continue
        config = parse_config(text)
        if name not in have_networks:
            found.append(StaleDns(name, True, config.gateways, config.entries))
            continue
        gone = tuple(e for e in config.entries if not exists(e.container_id))
        if gone:
            found.append(StaleDns(name, False, config.gateways, gone))
    return found


def stale_bridges(addresses: list[dict[str, object]], gateways: Iterable[str], live: Iterable[str]) -> list[str]:
    """Interfaces (``ip -j addr`` output) holding a stale gateway address that no existing network claims.

    *live* are the ``network_interface`` names of the engine's networks: their
    bridges are never named, even if they carry the same address.
    """
    wanted = {str(ipaddress.ip_address(g)) for g in gateways if _is_ip(g)}
    keep = set(live) | {"lo"}
    found = []
    for link in addresses:
        dev = str(link.get("ifname", ""))
        infos = link.get("addr_info")
        if not dev or dev in keep or not isinstance(infos, list):
            continue
        if any(isinstance(a, dict) and str(a.get("local", "")) in wanted for a in infos):
            found.append(dev)
    return found


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


# -- reading and changing the directory (hostile content) -------------------------------------------------
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def aardvark_dir(podman: PodmanRuntime) -> Path:
    """The engine's aardvark-dns config dir (rootful: /run/containers/..., rootless: under XDG_RUNTIME_DIR)."""
    if not podman.rootless:
        return ROOTFUL_DIR
    runtime_dir = podman.run_as.runtime_dir if podman.run_as else os.environ.get("XDG_RUNTIME_DIR", "")
    return Path(runtime_dir) / "containers" / "networks" / "aardvark-dns"


def _open_dir(directory: Path) -> int | None:
    try:
        return os.open(directory, _DIR_FLAGS)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as e:
        if e.errno == 40:  # ELOOP: the dir itself is a symlink: not aardvark-dns's
            return None
        raise


def _read_at(dir_fd: int, name: str) -> str | None:
    """A regular file's text below *dir_fd* (None: not a regular file, too big, or gone)."""
    try:
        fd = os.open(name, _FILE_FLAGS, dir_fd=dir_fd)
    except OSError:
        return None  # a symlink (ELOOP), a fifo that would block, gone meanwhile
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_FILE:
            return None
        return os.read(fd, MAX_FILE).decode("utf-8", "replace")
    finally:
        os.close(fd)


def read_listing(directory: Path) -> dict[str, str]:
    """Name -> content of the regular files in *directory* (empty when it does not exist)."""
    fd = _open_dir(directory)
    if fd is None:
        return {}
    try:
        listing = {}
        for name in os.listdir(fd):
            text = _read_at(fd, name)
            if text is not None:
                listing[name] = text
        return listing
    finally:
        os.close(fd)


def find_stale(podman: PodmanRuntime) -> list[StaleDns]:
    """The stale aardvark-dns files of *podman* (the dir is listed before the engine, so a network made
    meanwhile is not taken for a gone one)."""
    listing = read_listing(aardvark_dir(podman))
    if not listing:
        return []
    networks = [str(n.attrs.get("name", "")) for n in podman.client.networks.list()]
    containers = [str(c.attrs.get("Id") or c.id) for c in podman.client.containers.list(all=True)]
    return stale_dns(listing, networks, containers)


def remove_files(directory: Path, names: Iterable[str]) -> list[str]:
    """Unlink *names* (plain names, no path) in *directory* through its fd; what could not be removed."""
    fd = _open_dir(directory)
    if fd is None:
        return []
    failed = []
    try:
        for name in names:
            if not name or "/" in name or name in (".", "..", PID_FILE):
                failed.append(f"{name!r}: not a network file name")
                continue
            try:
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                if stat.S_ISDIR(st.st_mode):
                    failed.append(f"{directory / name}: a directory, left alone")
                    continue
                os.unlink(name, dir_fd=fd)  # unlink never follows a symlink: it removes the link itself
            except FileNotFoundError:
                continue  # gone meanwhile: what we wanted
            except OSError as e:
                failed.append(f"{directory / name}: {e.strerror}")
    finally:
        os.close(fd)
    return failed


def aardvark_pid(directory: Path, uid: int) -> int | None:
    """The pid in ``aardvark.pid`` when it is *uid*'s aardvark-dns serving *directory* (else None).

    The pid file is written by the engine's user: a pid of another program, or
    of another user's process, must never be signalled.
    """
    fd = _open_dir(directory)
    if fd is None:
        return None
    try:
        text = _read_at(fd, PID_FILE)
    finally:
        os.close(fd)
    if not text or not text.strip().isdigit():
        return None
    pid = int(text.strip())
    proc = Path(f"/proc/{pid}")
    try:
        argv = (proc / "cmdline").read_bytes().split(b"\0")
        owner = proc.stat().st_uid
        state = next((ln for ln in (proc / "status").read_text().splitlines() if ln.startswith("State:")), "")
    except OSError:
        return None
    if owner != uid or "Z" in state.split()[1:2] or not argv or not argv[0].endswith(b"aardvark-dns"):
        return None
    config = next((argv[i + 1] for i, a in enumerate(argv[:-1]) if a == b"--config"), b"")
    return pid if os.fsdecode(config).rstrip("/") == str(directory).rstrip("/") else None


def reload_aardvark(podman: PodmanRuntime, directory: Path) -> str:
    """SIGHUP the engine's aardvark-dns (it re-reads its dir, as netavark makes it do); what was done."""
    uid = podman.run_as.uid if podman.run_as else os.getuid()
    pid = aardvark_pid(directory, uid)
    if pid is None:
        return "aardvark-dns is not running (netavark starts it with the next container)"
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGHUP)
    return f"aardvark-dns (PID {pid}) reloaded"


def netns_addresses(podman: PodmanRuntime) -> list[dict[str, object]]:
    """``ip -j addr`` inside the user's rootless network namespace ([] when rootful or unreadable)."""
    if not podman.rootless:
        return []
    result = podman_cli(podman, "unshare", "--rootless-netns", "ip", "-j", "addr", timeout=120)
    if not result.succeeded:
        return []
    try:
        data = json.loads(result.stdout)
    except ValueError:
        return []
    return [d for d in data if isinstance(d, dict)] if isinstance(data, list) else []


def leftover_bridges(podman: PodmanRuntime, stale: Iterable[StaleDns]) -> list[str]:
    """Bridges in the rootless netns with a gone network's gateway that no existing network uses."""
    gateways = {g for s in stale if s.network_gone for g in s.gateways}
    if not gateways or not podman.rootless:
        return []
    live = [str(n.attrs.get("network_interface", "")) for n in podman.client.networks.list()]
    return stale_bridges(netns_addresses(podman), gateways, live)


def delete_bridges(podman: PodmanRuntime, devices: Iterable[str]) -> list[str]:
    """``ip link del DEV`` inside the rootless netns; what failed."""
    failed = []
    for dev in devices:
        result = podman_cli(podman, "unshare", "--rootless-netns", "ip", "link", "del", dev, timeout=60)
        if not result.succeeded and "Cannot find device" not in result.stderr:
            failed.append(f"{dev}: {result.stderr.strip()[-200:]}")
    return failed
