"""Step 7: a Podman-ready compose file, changed only where this host needs it, with the diff journaled.

Three rewrites, each only when it applies here: image names Podman cannot
resolve (the ``qualify-images`` fix's own code), ``docker.sock`` bind
mounts pointed at the target Podman's API socket, and ``:Z``/``:z`` labels on
bind mounts when SELinux is enforcing (``podshift.migration.selinux``; the
``getenforce`` output is journaled with the diff).  Published ports below
``ip_unprivileged_port_start`` for a rootless target are a readiness failure
(the ``unprivileged-port-start`` fix), not a silent remap here.  The backup
holds the original files; rollback restores them from there.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from podshift.atomic import write_file_atomically
from podshift.compose.model import ComposeProject, load_project
from podshift.errors import PodshiftError
from podshift.migration.selinux import add_labels, bind_labels, recorded_getenforce, selinux_enforcing
from podshift.remediation import FileChange, FixContext, FixRefused, Plan
from podshift.remediations.images import QualifyImages
from podshift.runtimes.podman import ROOTFUL_SOCKET, rootless_socket
from podshift.steps import Step, StepContext, StepFailed

from .common import RERUN

DOCKER_SOCKETS = ("/var/run/docker.sock", "/run/docker.sock")


def current_project(ctx: StepContext) -> ComposeProject:
    """The project as its files say now (after this step rewrote them)."""
    p = ctx.project
    return load_project(p.project_dir, compose_files=p.compose_files, project_name=p.name, env=p.env)


def podman_socket(ctx: StepContext) -> str:
    runtime = ctx.podman()
    if runtime.run_as is not None:
        return rootless_socket(runtime.run_as.uid)
    return runtime.socket if runtime.rootless else ROOTFUL_SOCKET


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _point_sockets(text: bytes, socket: str) -> bytes | None:
    """*text* with every docker.sock bind source replaced by *socket*, or None when there is none."""
    return _rewrite(text, socket, {})


def _rewrite(text: bytes, socket: str, labels: dict[str, dict[str, str]]) -> bytes | None:
    """*text* with docker.sock sources pointed at *socket* and *labels* added, or None when nothing changes."""
    yaml = YAML()
    yaml.preserve_quotes = True
    doc: Any = yaml.load(text)
    touched = add_labels(doc, labels)
    for spec in ((doc or {}).get("services") or {}).values():
        mounts = (spec or {}).get("volumes") or []
        for i, m in enumerate(mounts):
            if isinstance(m, str):
                source, sep, rest = m.partition(":")
                if source in DOCKER_SOCKETS and sep:
                    mounts[i] = f"{socket}:{rest}"
                    touched = True
            elif isinstance(m, dict) and m.get("source") in DOCKER_SOCKETS:
                m["source"] = socket
                touched = True
    if not touched:
        return None
    out = io.StringIO()
    yaml.dump(doc, out)
    return out.getvalue().encode()


def planned_changes(ctx: StepContext, getenforce: str | None = None) -> list[FileChange]:
    """The compose files as Podman on this host needs them (only the ones that change).

    *getenforce*: what ``getenforce`` printed here (None: no SELinux tooling).
    """
    after: dict[Path, bytes] = {}
    try:
        plan = QualifyImages().plan(FixContext(ctx.config, ctx.project, ctx.podman_user))
    except FixRefused as e:
        raise StepFailed("compose-rewrite", str(e), "qualify the image names where they are set") from e
    for f in plan.files:
        after[f.path] = f.after
    socket = podman_socket(ctx)
    labels = bind_labels(ctx.project) if selinux_enforcing(getenforce) else {}
    for path in ctx.project.compose_files:
        pointed = _rewrite(after.get(path, path.read_bytes()), socket, labels)
        if pointed is not None:
            after[path] = pointed
    return [
        FileChange(path, body, path.stat().st_mode & 0o7777)
        for path, body in after.items()
        if body != path.read_bytes()
    ]


class ComposeRewrite(Step):
    name = "compose-rewrite"
    title = "Rewrite the compose file where Podman needs it here (image names, docker.sock), diff journaled"
    action = "migrate"
    order = 70
    after = ("images", "volumes-final-sync")

    def plan(self, ctx: StepContext) -> Plan:
        getenforce = recorded_getenforce()
        changes = planned_changes(ctx, getenforce)
        summary = "nothing to change in the compose files" if not changes else self.title
        selinux = "enforcing: bind mounts get :Z/:z" if selinux_enforcing(getenforce) else "not enforcing: no labels"
        return Plan(self.name, "project", summary, files=tuple(changes), notes=(f"SELinux {selinux}",))

    def done(self, ctx: StepContext) -> bool:
        if not super().done(ctx):
            return False
        files = ctx.recorded("files", {}) or {}
        return all(Path(p).is_file() and _sha(Path(p).read_bytes()) == f["after"] for p, f in files.items())

    def run(self, ctx: StepContext) -> str | None:
        getenforce = recorded_getenforce()
        ctx.record("getenforce", getenforce)
        changes = planned_changes(ctx, getenforce)
        recorded = dict(ctx.recorded("files", {}) or {})
        for change in changes:
            before = change.path.read_bytes()
            recorded[str(change.path)] = {"before": _sha(before), "after": _sha(change.after), "diff": change.diff()}
        ctx.record("files", recorded)  # journaled before the files change; the backup holds the originals
        try:
            for change in changes:
                st = change.path.stat()
                write_file_atomically(change.path, change.after, change.mode, st.st_uid, st.st_gid)
                ctx.log.info("rewrote %s:\n%s", change.path, change.diff())
        except (OSError, PodshiftError) as e:
            raise StepFailed(self.name, f"writing the compose file: {e}", RERUN) from e
        if not recorded:
            return "the compose files need no change for Podman here"
        return f"rewrote {', '.join(Path(p).name for p in recorded)} (diff in the journal and the log)"
