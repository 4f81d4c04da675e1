"""Host probes the checks share: small functions that read one fact each.

They read through the standard library and the real tools (tomllib for
containers.conf, ``ip -json route``, the engines' own CLIs) and never change
anything.
"""

from __future__ import annotations

import ipaddress
import json
import os
import pwd
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from podshift.commands import CommandResult, RunAs, run

SYSTEM_CONTAINERS_CONF = Path("/etc/containers/containers.conf")
SYSTEM_REGISTRIES_CONF = Path("/etc/containers/registries.conf")


@dataclass(frozen=True)
class SubIdRange:
    start: int
    count: int


def subid_ranges(user: str, path: Path) -> list[SubIdRange]:
    """The user's ranges in /etc/subuid or /etc/subgid (``name:start:count``, by name or uid)."""
    try:
        uid = str(pwd.getpwnam(user).pw_uid)
    except KeyError:
        uid = ""
    ranges: list[SubIdRange] = []
    if not path.exists():
        return ranges
    for line in path.read_text().splitlines():
        parts = line.strip().split(":")
        if len(parts) == 3 and parts[0] in (user, uid) and parts[1].isdigit() and parts[2].isdigit():
            ranges.append(SubIdRange(int(parts[1]), int(parts[2])))
    return ranges


def containers_conf_files(user: str | None) -> list[Path]:
    """containers.conf files in the order Podman reads them (later wins).

    ``CONTAINERS_CONF`` replaces them all, as it does for Podman.
    """
    override = os.environ.get("CONTAINERS_CONF")
    if override:
        return [Path(override)]
    files = [Path("/usr/share/containers/containers.conf"), SYSTEM_CONTAINERS_CONF]
    files += sorted(Path("/etc/containers/containers.conf.d").glob("*.conf"))
    if user is not None and user != "root":
        home = Path(pwd.getpwnam(user).pw_dir)
        files.append(home / ".config/containers/containers.conf")
    return [f for f in files if f.is_file()]


def containers_conf(user: str | None) -> dict[str, Any]:
    """The merged containers.conf tables (section by section, later files win)."""
    merged: dict[str, dict[str, Any]] = {}
    for f in containers_conf_files(user):
        data = tomllib.loads(f.read_text())
        for section, values in data.items():
            if isinstance(values, dict):
                merged.setdefault(section, {}).update(values)
    return merged


def unqualified_search_registries() -> list[str]:
    """The registries Podman searches for short names (``CONTAINERS_REGISTRIES_CONF`` replaces the files)."""
    override = os.environ.get("CONTAINERS_REGISTRIES_CONF")
    files = (
        [Path(override)]
        if override
        else [SYSTEM_REGISTRIES_CONF, *sorted(Path("/etc/containers/registries.conf.d").glob("*.conf"))]
    )
    found: list[str] = []
    for f in files:
        if f.is_file():
            try:
                found = list(tomllib.loads(f.read_text()).get("unqualified-search-registries", found))
            except tomllib.TOMLDecodeError:
                continue
    return found


def hard_limit(name: str) -> int | None:
    """The hard limit for ``nofile``/``nproc`` of this process (None: unlimited)."""
    import resource

    which = {"nofile": resource.RLIMIT_NOFILE, "nproc": resource.RLIMIT_NPROC}[name]
    hard = resource.getrlimit(which)[1]
    return None if hard == resource.RLIM_INFINITY else hard


def parse_ulimit(spec: str) -> tuple[str, int, int]:
    """``"nofile=1024:2048"`` -> ("nofile", 1024, 2048)."""
    name, _, values = spec.partition("=")
    soft, _, hard = values.partition(":")
    return name.strip(), int(soft), int(hard or soft)


def host_routes() -> Iterator[tuple[ipaddress.IPv4Network, str]]:
    """(destination, device) of the host's IPv4 routes, from ``ip -json route``."""
    result = run(["ip", "-json", "route", "show"])
    if not result.succeeded:
        return
    for route in json.loads(result.stdout or "[]"):
        dst = route.get("dst")
        if dst and dst != "default":
            try:
                yield ipaddress.ip_network(dst, strict=False), str(route.get("dev", ""))  # type: ignore[misc]
            except ValueError:
                continue


def podman_cli(*args: str, user: str | None = None, timeout: float = 120) -> CommandResult:
    """Run ``podman ARGS`` for the user whose Podman is checked (root: rootful)."""
    run_as = RunAs(user) if user and user != "root" and os.geteuid() == 0 else None
    return run(["podman", *args], run_as=run_as, timeout=timeout)


def dir_size(path: Path) -> int:
    """Apparent size of the files under *path* that this process can read."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_size
            except OSError:
                continue
    return total


def can_access(path: Path, user: str | None, mode: int) -> bool:
    """Whether *user* (None: this process) may access *path* with *mode* (os.R_OK/W_OK/X_OK).

    For another user this walks the permission bits of *path* and every
    parent (search permission), as the kernel would for that user's uid and
    groups, without spawning a process; POSIX ACLs and MAC policies are not
    considered.
    """
    if user is None or user == pwd.getpwuid(os.geteuid()).pw_name:
        return os.access(path, mode)
    pw = pwd.getpwnam(user)
    if pw.pw_uid == 0:
        return path.exists()
    groups = set(os.getgrouplist(user, pw.pw_gid))
    shift = {os.R_OK: 2, os.W_OK: 1, os.X_OK: 0}[mode]

    def allowed(p: Path, bit_shift: int) -> bool:
        try:
            st = p.stat()
        except OSError:
            return False
        if st.st_uid == pw.pw_uid:
            return bool(st.st_mode >> (6 + bit_shift) & 1)
        if st.st_gid in groups:
            return bool(st.st_mode >> (3 + bit_shift) & 1)
        return bool(st.st_mode >> bit_shift & 1)

    absolute = path.absolute()
    return all(allowed(parent, 0) for parent in reversed(absolute.parents)) and allowed(absolute, shift)
