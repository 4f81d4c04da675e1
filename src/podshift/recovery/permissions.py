"""permission-issues: the rootless user's namespace, sub-ids, newuidmap and containers.conf.

Each decision is a function of what the tools printed, so that it is
tested with recorded outputs; the repairs are podshift's existing fixes
(``pytest_podshift_fixes``), applied and journaled as ``--fix-issues`` does.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

#: What a failed smoke container says -> the existing fix that repairs it.
SMOKE_FIXES = (
    ("cgroups in hybrid mode", "select-oci-runtime"),
    ("setrlimit", "default-ulimits"),
)


def uid_map_problem(uid_map: str) -> str | None:
    """Why ``podman unshare cat /proc/self/uid_map`` output shows an unusable mapping, or None.

    One line (``0 1001 1``) means only the user's own id is mapped: the sub-ids
    in /etc/subuid are not applied (podman#12715) until ``podman system migrate``.
    """
    lines = [ln.split() for ln in uid_map.strip().splitlines() if ln.strip()]
    if not lines:
        return "the user namespace has no uid mapping at all"
    if len(lines) == 1:
        return (
            f"only one uid is mapped ({' '.join(lines[0])}): the sub-uids are not applied (podman#12715); "
            "`podman system migrate` as the user applies them"
        )
    return None


#: Podman 4.x's line when it cannot enter the user's namespaces (a lost pause process, but also an
#: unprivileged newuidmap or a blocked user namespace, which `podman system migrate` does not repair) ...
INTERNAL_STATUS = "invalid internal status"
#: ... and its cause when the pause process and every running container's conmon are gone.
NO_PROCESS = "could not find any running process"


def pause_process_problem(stderr: str) -> str | None:
    """Why a rootless ``podman`` command failed because its namespaces are gone, or None.

    Podman keeps the user's namespaces in a pause process; without one it
    joins the conmon of a container its database calls running.  When all of
    the user's processes were killed (an OOM kill, a job runner reaping them)
    while the runtime directory stayed, neither exists and every command
    fails with "invalid internal status, try resetting the pause process with
    podman system migrate": that command is the reset.
    """
    if INTERNAL_STATUS not in stderr or NO_PROCESS not in stderr:
        return None
    return (
        "the user's Podman lost its pause process and the conmon of the containers it calls running "
        "(their processes were killed): `podman system migrate` as the user resets it"
    )


def newuidmap_problem(path: Path) -> str | None:
    """Why *path* (newuidmap/newgidmap) cannot set up a namespace, or None (setuid root, or file capabilities)."""
    if not path.exists():
        return f"{path} is missing: install uidmap (Debian) / shadow-utils (RHEL)"
    st = path.stat()
    if st.st_mode & stat.S_ISUID and st.st_uid == 0:
        return None
    try:
        if os.getxattr(path, "security.capability"):
            return None
    except OSError:
        pass
    return (
        f"{path} has neither the setuid bit nor file capabilities (buildah#2123): "
        f"`chmod u+s {path}` or `setcap cap_setuid+ep {path}` (as root)"
    )


def newuidmap_paths() -> list[Path]:
    return [Path(shutil.which(tool) or f"/usr/bin/{tool}") for tool in ("newuidmap", "newgidmap")]


def smoke_fix(stderr: str) -> str | None:
    """The existing fix for what a failed container start said, or None when no fix covers it."""
    return next((fix for needle, fix in SMOKE_FIXES if needle in stderr), None)
