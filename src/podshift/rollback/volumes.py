"""Docker's volumes on the way back: read, compare, move aside, refill, verified.

Docker cannot rename a volume, and Compose finds a project's volume by its
name, so data is put back into the volume of the same name.  Its previous
content is first *moved aside* into ``<name>-podshift-aside`` (a rename of
each top-level entry when podshift may use the volume directory directly;
otherwise a copy through the engine), and the aside volume is removed only
after the new content verified.  A crash at any point leaves the old content
in one of the two volumes; the step's journal says which.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable

from podshift.backup.direct import walk_entries
from podshift.backup.store import compare_entries
from podshift.backup.tarscan import Entry, comparable, hardlink_groups, scan
from podshift.compose.model import ComposeProject
from podshift.errors import EngineError
from podshift.images import ensure_helper_image
from podshift.runtimes.base import PROJECT_LABEL, Mount, Runtime
from podshift.runtimes.docker import DockerRuntime

log = logging.getLogger("podshift.rollback")
ASIDE_SUFFIX = "-podshift-aside"
ASIDE_LABEL = "io.podshift.aside-of"
VOLUME_LABEL = "com.docker.compose.volume"


def aside_name(volume: str) -> str:
    return f"{volume}{ASIDE_SUFFIX}"


def read_entries(runtime: Runtime, volume: str) -> list[Entry]:
    """Every entry of *volume* as its containers see it (directory walk where allowed, else the engine's archive)."""
    info = runtime.volume(volume)
    if info is None:
        raise EngineError(runtime.label, f"read volume {volume}", "no such volume")
    direct = runtime.direct_path(info)
    if direct is not None:
        return walk_entries(direct)
    return scan(runtime.volume_export(volume), archive=f"{runtime.label}:{volume}", safe=False).entries


def compare_since(expected: Iterable[Entry], actual: Iterable[Entry], since: float | None = None) -> str:
    """Like :func:`compare_entries`, but a difference the running application made after *since* is not one.

    After the stack started again under Docker its services write (a counter, a
    heartbeat): a file whose mtime is at or after *since*, and a file missing from
    a directory modified since, are the application's own doing.
    """
    expected, actual = list(expected), list(actual)
    if since is None:
        return compare_entries(expected, actual)
    cutoff = int(since)
    mtimes = {e.path: e.mtime for e in actual}

    def touched(path: str) -> bool:
        return mtimes.get(path, -1) >= cutoff

    def parent_touched(path: str) -> bool:
        parent = path.rpartition("/")[0]
        return touched(parent) if parent else True  # the root's mtime is not recorded: assume it moved

    want, got = comparable(expected), comparable(actual)
    problems = [f"missing {p!r}" for p in sorted(want.keys() - got.keys()) if not parent_touched(p)]
    problems += [f"unexpected {p!r}" for p in sorted(got.keys() - want.keys()) if not touched(p)]
    problems += [f"changed {p!r}" for p in sorted(want.keys() & got.keys()) if want[p] != got[p] and not touched(p)]
    settled = {p for p in want.keys() & got.keys() if not touched(p)}
    groups = {g & settled for g in hardlink_groups(expected)} - {frozenset()}
    if groups != {g & settled for g in hardlink_groups(actual)} - {frozenset()}:
        problems.append("hardlinks differ")
    return "; ".join(problems[:5]) + (f" (+{len(problems) - 5} more)" if len(problems) > 5 else "")


def ensure_volume(docker: DockerRuntime, project: ComposeProject, volume: str) -> None:
    """Create Docker volume *volume* with Compose's labels when it is missing (Compose then adopts it)."""
    if docker.volume(volume) is not None:
        return
    key = next((k for k in project.volumes if project.volume_name(k) == volume), volume)
    docker.volume_create(volume, {PROJECT_LABEL: project.name, VOLUME_LABEL: key})


def move_aside(docker: DockerRuntime, volume: str) -> None:
    """Move *volume*'s content into ``<volume>-podshift-aside``, leaving *volume* empty.  Resumable.

    Directly (root, local driver): each top-level entry is renamed into the aside
    volume's directory — instant, and a crash half-way leaves every entry in one of
    the two.  Otherwise through the engine: copy, verify, then empty.
    """
    aside = aside_name(volume)
    if docker.volume(aside) is None:
        docker.volume_create(aside, {ASIDE_LABEL: volume})
    info, aside_info = docker.volume(volume), docker.volume(aside)
    if info is None or aside_info is None:
        raise EngineError(docker.label, f"move {volume} aside", "volume vanished")
    src, dst = docker.direct_path(info), docker.direct_path(aside_info)
    if src is not None and dst is not None and os.stat(src).st_dev == os.stat(dst).st_dev:
        src_fd = os.open(src, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        dst_fd = os.open(dst, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            st = os.fstat(src_fd)
            os.fchown(dst_fd, st.st_uid, st.st_gid)
            os.fchmod(dst_fd, st.st_mode & 0o7777)
            for name in os.listdir(src_fd):
                os.rename(name, name, src_dir_fd=src_fd, dst_dir_fd=dst_fd)
            os.fsync(dst_fd)
            os.fsync(src_fd)
        finally:
            os.close(src_fd)
            os.close(dst_fd)
        return
    # Through the engine: the aside copy must hold everything before the original is emptied.
    empty(docker, aside)
    docker.volume_import(aside, docker.volume_export(volume))
    difference = compare_entries(read_entries(docker, volume), read_entries(docker, aside))
    if difference:
        raise EngineError(docker.label, f"move {volume} aside", f"the aside copy differs: {difference}")
    empty(docker, volume)


def put_back_aside(docker: DockerRuntime, volume: str) -> None:
    """Undo :func:`move_aside`: the aside content back into *volume* (whose content is dropped)."""
    empty(docker, volume)
    aside = aside_name(volume)
    info, aside_info = docker.volume(volume), docker.volume(aside)
    if info is None or aside_info is None:
        return
    src, dst = docker.direct_path(aside_info), docker.direct_path(info)
    if src is not None and dst is not None:
        for name in os.listdir(src):
            os.rename(src / name, dst / name)
    else:
        docker.volume_import(volume, docker.volume_export(aside))
    docker.volume_remove(aside, force=True)


def empty(runtime: Runtime, volume: str) -> None:
    """Remove everything inside *volume* (the volume itself stays)."""
    info = runtime.volume(volume)
    if info is None:
        raise EngineError(runtime.label, f"empty volume {volume}", "no such volume")
    direct = runtime.direct_path(info)
    if direct is not None:
        fd = os.open(direct, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            for name in os.listdir(fd):
                _remove_tree(fd, name)
        finally:
            os.close(fd)
        return
    result = runtime.run(
        ensure_helper_image(runtime),
        ["sh", "-c", "cd /v && find . -mindepth 1 -maxdepth 1 -exec rm -rf {} +"],
        mounts=[Mount(volume, "/v")],
    )
    if result.rc != 0:
        raise EngineError(runtime.label, f"empty volume {volume}", result.stderr.strip())


def _remove_tree(dir_fd: int, name: str) -> None:
    """Remove *name* in *dir_fd* and everything under it, never following a symlink."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dir_fd)
    except OSError:  # not a directory (or a symlink to one): unlink it
        os.unlink(name, dir_fd=dir_fd)
        return
    try:
        for child in os.listdir(fd):
            _remove_tree(fd, child)
    finally:
        os.close(fd)
    os.rmdir(name, dir_fd=dir_fd)
