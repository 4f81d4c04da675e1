"""volume-issues: bind-mount sources the container user cannot reach, SELinux labels, missing or empty volumes.

The judge of a bind mount is a probe container started as the service's
user with the same mount (rootless ids like 100998 and a chmod 000 source
both show there, in the engine's own words).  SELinux is decided by
:func:`selinux_advice` from ``getenforce`` and ``ls -Z`` output, so that it
can be tested with recorded outputs on hosts without SELinux.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from podshift.backup.store import BackupStore
from podshift.backup.tarscan import scan
from podshift.commands import run
from podshift.compose.model import ComposeProject, Service
from podshift.images import ensure_helper_image
from podshift.recovery.engines import podman
from podshift.runtimes import PodmanRuntime


@dataclass(frozen=True)
class MountProblem:
    service: str
    source: Path
    target: str
    user: str  # uid:gid inside the container
    said: str  # what the probe printed

    def describe(self) -> str:
        return f"service {self.service} (user {self.user}) cannot use {self.source} at {self.target}: {self.said}"


def container_user(runtime: PodmanRuntime, service: Service) -> str:
    """``uid:gid`` the service runs as: its ``user:``, else its image's, else 0:0."""
    user = service.user or ""
    if not user and service.image:
        result = podman(runtime, "image", "inspect", "--format", "{{.Config.User}}", service.image, timeout=60)
        user = result.stdout.strip() if result.succeeded else ""
    uid, _, gid = (user or "0").partition(":")
    return f"{uid}:{gid or uid}"


def probe_mounts(runtime: PodmanRuntime, project: ComposeProject) -> list[MountProblem]:
    """Each bind mount tried in a helper container as the service's user: listed, and written to unless read-only."""
    image = ensure_helper_image(runtime)
    problems = []
    for name, svc in sorted(project.services.items()):
        for m in svc.mounts:
            if m.type != "bind" or not Path(m.source).is_dir():
                continue
            user = container_user(runtime, svc)
            # A write test with an unpredictable name (mktemp), removed at once.
            write = ' && rm "$(mktemp -p /probe .podshift-probe.XXXXXX)"'
            script = "ls /probe >/dev/null" + ("" if m.read_only else write)
            result = podman(
                runtime,
                "run", "--rm", "--pull=never", "--network=none", "--user", user,
                "-v", f"{m.source}:/probe{':ro' if m.read_only else ''}", image, "sh", "-c", script,
                timeout=120,
            )  # fmt: skip
            if not result.succeeded:
                said = (result.stderr + result.stdout).strip().splitlines()[-1:] or [f"exit {result.rc}"]
                problems.append(MountProblem(name, Path(m.source), m.target, user, said[0]))
    return problems


def host_ids(runtime: PodmanRuntime, user: str) -> tuple[int, int]:
    """The host uid/gid that container ``uid:gid`` *user* is under *runtime* (rootless: through the id map)."""
    uid, _, gid = user.partition(":")
    if not runtime.rootless:
        return int(uid), int(gid)
    mapped = podman(runtime, "unshare", "cat", "/proc/self/uid_map", timeout=60).check().stdout
    gmapped = podman(runtime, "unshare", "cat", "/proc/self/gid_map", timeout=60).check().stdout
    return _through_map(int(uid), mapped), _through_map(int(gid), gmapped)


def _through_map(container_id: int, id_map: str) -> int:
    for line in id_map.splitlines():
        inside, outside, count = (int(x) for x in line.split())
        if inside <= container_id < inside + count:
            return outside + container_id - inside
    raise ValueError(f"id {container_id} is not mapped ({id_map.strip()!r})")


def selinux_advice(getenforce: str, ls_z: str, option: str) -> str | None:
    """What a bind mount needs under SELinux: ``:Z`` / ``:z`` advice, or None when nothing is needed.

    *getenforce* is ``getenforce``'s output, *ls_z* ``ls -dZ SOURCE``'s, *option* the
    mount's ``z``/``Z`` option ('' when none).
    """
    if getenforce.strip().lower() != "enforcing" or option in ("z", "Z"):
        return None
    context = next((w for w in ls_z.split() if w.count(":") >= 3), "")
    if ":container_file_t:" in context or context.split(":")[2:3] == ["container_file_t"]:
        return None
    return (
        f"SELinux is enforcing and the source is labelled {context or 'without a context'}: "
        "add :Z to the mount (private to this container) or :z (shared by several)"
    )


def selinux_state() -> str:
    """``getenforce``'s output ('Disabled' where SELinux is not installed)."""
    if shutil.which("getenforce") is None:
        return "Disabled"
    return run(["getenforce"], timeout=30).stdout.strip() or "Disabled"


def selinux_problems(project: ComposeProject) -> list[str]:
    state = selinux_state()
    found = []
    for name, svc in sorted(project.services.items()):
        for m in svc.mounts:
            if m.type != "bind" or not os.path.exists(m.source):
                continue
            ls_z = run(["ls", "-dZ", m.source], timeout=30).stdout if state.lower() == "enforcing" else ""
            advice = selinux_advice(state, ls_z, m.selinux)
            if advice:
                found.append(f"service {name}: {m.source}: {advice}")
    return found


@dataclass(frozen=True)
class VolumeGap:
    volume: str
    state: str  # missing, empty
    in_backup: bool

    def describe(self) -> str:
        where = "the backup holds it" if self.in_backup else "the backup does not hold it"
        return f"volume {self.volume} is {self.state} ({where})"


def volume_gaps(runtime: PodmanRuntime, project: ComposeProject) -> list[VolumeGap]:
    """Project volumes missing under Podman, or empty while the backup has data for them."""
    store = BackupStore(project.project_dir)
    archives = {a.name: a for a in store.manifest().archives if a.kind == "volume"} if store.exists() else {}
    gaps = []
    for name in project.named_volumes:
        archive = archives.get(name)
        if runtime.volume(name) is None:
            gaps.append(VolumeGap(name, "missing", archive is not None))
            continue
        if archive is None or not any(e.type != "dir" for e in archive.entries):
            continue  # nothing to compare with: an empty volume may be right
        entries = scan(runtime.volume_export(name), archive=f"{runtime.label}:{name}", safe=False).entries
        if not any(e.type != "dir" for e in entries):
            gaps.append(VolumeGap(name, "empty", True))
    return gaps
