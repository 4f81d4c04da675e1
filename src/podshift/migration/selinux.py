"""SELinux labels for bind mounts: whether this host needs them, and the compose file with them added.

Under an enforcing SELinux a Podman container cannot read a bind-mounted host
path unless it carries a label: ``:Z`` (private: relabelled for this one
container) or ``:z`` (shared by several containers).  Docker hosts often run
without SELinux, so their compose files have none.  The decision is a function
of what ``getenforce`` printed (recorded, so it can be tested without SELinux);
the rewrite only adds labels, to bind mounts that have none, and never to a
socket or a system directory (relabelling ``/var/run/docker.sock`` or ``/etc``
for one container would break the host).
"""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from podshift.commands import run
from podshift.compose.model import ComposeProject, VolumeMount

#: Host paths a label must never be put on (Podman would relabel them for one container).
SYSTEM_PATHS = frozenset(
    {"/", "/etc", "/usr", "/var", "/run", "/var/run", "/home", "/root", "/boot", "/dev", "/proc", "/sys"} | {"/tmp"}  # noqa: S108 - a path never to relabel, not a temporary file
)


def recorded_getenforce() -> str | None:
    """What ``getenforce`` prints on this host, or None when the command is missing or fails."""
    if shutil.which("getenforce") is None:
        return None
    result = run(["getenforce"])
    return result.stdout if result.succeeded else None


def selinux_enforcing(getenforce_output: str | None) -> bool:
    """True only when *getenforce_output* (None: command missing) says ``Enforcing``.

    ``Permissive`` logs denials without enforcing them and ``Disabled`` has no
    labels at all: neither needs a relabel, and a relabel changes the files'
    contexts on the host, so nothing is added unless it must be.
    """
    return getenforce_output is not None and getenforce_output.strip().lower() == "enforcing"


def _labellable(mount: VolumeMount) -> bool:
    if mount.type != "bind" or mount.selinux or not mount.source:
        return False
    source = Path(mount.source)
    return not (str(source) in SYSTEM_PATHS or source.is_socket() or source.suffix == ".sock")


def bind_labels(project: ComposeProject) -> dict[str, dict[str, str]]:
    """{service: {container path: "Z" or "z"}} for each bind mount that needs a label under enforcing SELinux.

    ``z`` (shared) when more than one service mounts the same host path, ``Z``
    (private) otherwise.
    """
    shared = Counter(m.source for s in project.services.values() for m in s.mounts if m.type == "bind")
    return {
        name: {m.target: ("z" if shared[m.source] > 1 else "Z") for m in service.mounts if _labellable(m)}
        for name, service in project.services.items()
        if any(_labellable(m) for m in service.mounts)
    }


def add_labels(doc: Any, labels: Mapping[str, Mapping[str, str]]) -> bool:
    """Add *labels* to the matching bind mounts of the loaded compose document *doc* in place; True if any.

    Short syntax ``src:dst[:opts]`` gets the label appended to its options;
    long syntax gets ``bind: {selinux: …}``.  Mounts are matched by service
    and container path, so only what :func:`bind_labels` chose is touched.
    """
    touched = False
    services = (doc or {}).get("services") or {}
    for name, wanted in labels.items():
        spec = services.get(name)
        if not isinstance(spec, dict):
            continue
        mounts = spec.get("volumes") or []
        for i, m in enumerate(mounts):
            if isinstance(m, str):
                parts = m.split(":")
                if len(parts) < 2 or parts[1] not in wanted:
                    continue
                label = wanted[parts[1]]
                if len(parts) == 2:
                    mounts[i] = f"{m}:{label}"
                else:
                    options = parts[2].split(",")
                    if {"z", "Z"} & set(options):
                        continue
                    mounts[i] = ":".join([*parts[:2], ",".join([*options, label]), *parts[3:]])
                touched = True
            elif isinstance(m, dict) and m.get("type", "bind") == "bind" and m.get("target") in wanted:
                bind = m.setdefault("bind", {})
                if isinstance(bind, dict) and not bind.get("selinux"):
                    bind["selinux"] = wanted[m["target"]]
                    touched = True
    return touched
