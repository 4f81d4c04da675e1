"""What a migration leaves behind: files the project's Docker containers wrote into their own layer.

A migration moves volumes and images, not container layers; ``docker diff``
names what a running container changed there.  The readiness check warns
about it, and the stop-docker step journals it for the migration report.
"""

from __future__ import annotations

from podshift.runtimes.docker import DockerRuntime

#: ``docker diff`` kinds.
_CHANGE_KIND = {0: "changed", 1: "added", 2: "deleted"}


def _under(path: str, roots: list[str]) -> bool:
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


def layer_changes(docker: DockerRuntime, project: str) -> dict[str, list[str]]:
    """``{container name: ["/path (added)", ...]}`` for each running container of *project* that
    changed files outside its mounts; only the deepest changed paths (a directory shows as changed
    whenever anything under it did, so the files themselves are named)."""
    found: dict[str, list[str]] = {}
    containers = docker.client.containers.list(filters={"label": f"com.docker.compose.project={project}"})
    for container in containers:
        mounts = [m["Destination"] for m in container.attrs.get("Mounts") or []]
        changes = [c for c in container.diff() or [] if not _under(c["Path"], mounts)]
        paths = {c["Path"] for c in changes}
        leaves = [c for c in changes if not any(p.startswith(c["Path"].rstrip("/") + "/") for p in paths)]
        if leaves:
            found[container.name] = [f"{c['Path']} ({_CHANGE_KIND.get(c['Kind'], c['Kind'])})" for c in leaves]
    return found
