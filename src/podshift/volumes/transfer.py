"""Copy one named volume's data between engines, either direction, and verify it file by file.

A volume is reached the fastest way that keeps owners *as the container sees
them* (shared/ENGINES.md measured them):

``host``
    root reads or writes the volume's mountpoint with GNU tar: Docker and
    rootful Podman on the local driver without user-namespace remapping.
``unshare``
    a rootless user's volume, through ``podman unshare tar`` run as that user:
    inside the user's namespace uid 999 is uid 999 again (host root writing
    there would leave host ids, reading there would see the user's sub-ids).
``api``
    anything else (a remote engine, a non-local driver, no root): the
    engine's own archive export/import.

A full copy between two host-readable directories is ``cp -a`` (the kernel's
copy_file_range), with the stopped source walked and hashed on the other core
meanwhile, so verification reads only the target.  Any other copy is a tar
stream from the source's tar straight into the target's tar (spliced, so the
data never enters Python).  Verification walks both sides
with the backup's walker (:func:`podshift.backup.direct.walk_entries`) or
parses their tar streams (:func:`podshift.backup.tarscan.scan`) and compares
the entries with :func:`podshift.backup.store.compare_entries`: content
sha256, size, mode, owner, symlink targets, hardlinks, plus xattrs where both
sides keep them and the volume's top directory.

Two passes keep downtime proportional to what changed: :func:`copy_volume`
without a baseline copies everything (while the source still serves, with
``live=True``) and returns a :class:`Baseline` (a metadata listing taken just
before); :func:`copy_volume` with that baseline, after the source's users are
stopped, sends only entries that are new, differ from the baseline, or whose
ctime is not older than the first pass (so writes during the first pass, even
within one timestamp tick, are sent again), and removes what disappeared.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import shutil
import stat
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from podshift.backup.direct import TAR, read_file, walk_entries
from podshift.backup.store import compare_entries
from podshift.backup.tarscan import Entry, comparable, scan
from podshift.commands import RunAs, run
from podshift.errors import CommandError, PodshiftError
from podshift.images import ensure_helper_image
from podshift.runtimes.base import Mount, Runtime
from podshift.runtimes.podman import PodmanRuntime

log = logging.getLogger("podshift.volumes")

#: (what, bytes so far, entries so far) — :class:`podshift.progress.TerminalProgress` fits.
ProgressFn = Callable[[str, int, int], None]

#: Reads of the tar stream (and splices between the two tars) go in blocks this big.
BLOCK = 1 << 20
_F_SETPIPE_SZ = 1031
#: A file whose ctime is this close before the previous pass began is sent again: the kernel stamps
#: files from a coarse clock (one tick, a few ms), so a write just after tar read a file may keep the
#: ctime the listing saw.  Filesystems that keep whole seconds only get a wider window.
CTIME_SLACK_NS = 100_000_000
COARSE_CTIME_SLACK_NS = 2_000_000_000

#: GNU tar writing a stream: the backup's flags (numeric owners, xattrs, pax) plus holes kept.
TAR_CREATE = [*TAR, "--sparse"]
#: GNU tar unpacking a stream as the container would see it: owners, modes, xattrs as recorded.
TAR_EXTRACT = [
    "tar",
    "--blocking-factor=512",
    "--numeric-owner",
    "--same-owner",
    "--same-permissions",
    "--xattrs",
    "--xattrs-include=*",
    "-xf",
    "-",
]


def _quiet(what: str, done: int, files: int) -> None:
    """The default progress callback: nothing."""


class TransferError(PodshiftError):
    """A volume could not be copied or its copy does not match the source."""

    def __init__(self, source: str, target: str, problem: str) -> None:
        self.source, self.target, self.problem = source, target, problem
        super().__init__(f"volume copy {source} -> {target}: {problem}")


@dataclass(frozen=True)
class VolumeRef:
    """A named volume on one engine."""

    runtime: Runtime
    name: str

    def __str__(self) -> str:
        return f"{self.runtime.label}:{self.name}"


@dataclass(frozen=True)
class Access:
    """How this process reaches a volume's files (see the module docstring)."""

    method: str  # "host", "unshare" or "api"
    mountpoint: Path | None = None
    run_as: RunAs | None = None

    def wrap(self, argv: Sequence[str]) -> list[str]:
        """*argv* as it must run to see the volume as its containers do."""
        if self.method != "unshare":
            return list(argv)
        full = ["podman", "unshare", *argv]
        return self.run_as.wrap(full) if self.run_as is not None else full


def access(ref: VolumeRef) -> Access:
    """The fastest way to reach *ref*'s files that keeps in-container owners."""
    info = ref.runtime.volume(ref.name)
    if info is None:
        raise TransferError(str(ref), str(ref), f"volume {ref.name} does not exist on {ref.runtime.label}")
    runtime = ref.runtime
    local = info.driver == "local" and bool(info.mountpoint) and shutil.which("tar") is not None
    if isinstance(runtime, PodmanRuntime) and runtime.rootless:
        if local and shutil.which("podman") is not None:
            return Access("unshare", Path(info.mountpoint), runtime.run_as)
        return Access("api")
    if isinstance(runtime, PodmanRuntime):
        # Rootful Podman maps no ids: root on the host sees what its containers see.
        if local and os.geteuid() == 0 and Path(info.mountpoint).is_dir():
            return Access("host", Path(info.mountpoint))
        return Access("api")
    direct = runtime.direct_path(info)
    if direct is not None and shutil.which("tar") is not None:
        return Access("host", direct)
    return Access("api")


# -- snapshots (what a volume holds, as its containers see it) ----------------------------------------
@dataclass
class Snapshot:
    """Every entry of a volume (content hashed) and its top directory's (mode, uid, gid)."""

    entries: list[Entry]
    root: tuple[int, int, int] | None
    method: str

    def digest(self) -> str:
        """One sha256 over everything :func:`compare_entries` compares (plus the top directory)."""
        body = json.dumps([sorted(comparable(self.entries).items()), self.root], separators=(",", ":"))
        return hashlib.sha256(body.encode()).hexdigest()

    @property
    def size(self) -> int:
        return sum(e.size for e in self.entries if e.type == "file")


def snapshot(ref: VolumeRef, *, hashes: bool = True, trusted: Mapping[str, str] | None = None) -> Snapshot:
    """Read *ref* as its containers see it (without *hashes*: metadata only, host access only).

    *trusted* (host access only): path -> sha256 of files whose content was
    verified earlier and has not changed since; they are not read again.
    """
    acc = access(ref)
    if acc.method == "host" and acc.mountpoint is not None:
        st = os.lstat(acc.mountpoint)
        if trusted is None:
            entries = walk_entries(acc.mountpoint, hashes=hashes)
        else:
            entries = walk_entries(acc.mountpoint, hashes=False)
            _hash_untrusted(acc.mountpoint, entries, trusted)
        return Snapshot(entries, (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid), "host")
    if acc.method == "unshare" and acc.mountpoint is not None:
        argv = acc.wrap([*TAR_CREATE, "-cf", "-", "-C", str(acc.mountpoint), "."])
        with _Source(argv, strict=True, what=f"read {ref}") as src:
            result = scan(src.chunks(), archive=str(ref), safe=False)
        top = run(acc.wrap(["stat", "-c", "%a %u %g", str(acc.mountpoint)]), timeout=60).check()
        mode, uid, gid = top.stdout.split()
        return Snapshot(result.entries, (int(mode, 8), int(uid), int(gid)), "unshare")
    result = scan(ref.runtime.volume_export(ref.name), archive=str(ref), safe=False)
    return Snapshot(result.entries, None, "api")


@dataclass
class Verification:
    """The outcome of comparing a copy with its source."""

    source: Snapshot
    target: Snapshot
    difference: str  # '' when they match
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.difference


def verify_copy(
    source: VolumeRef,
    target: VolumeRef,
    *,
    trusted: Mapping[str, str] | None = None,
    source_listing: list[Entry] | None = None,
    source_snapshot: Snapshot | None = None,
) -> Verification:
    """Compare *target* with *source* entry by entry (both read at once, one core each).

    *trusted*: files (path -> sha256) a verification before the source's users
    stopped found identical on both sides, minus everything a later pass sent
    (:attr:`CopyResult.sent`): unchanged since on either side, so only their
    metadata is compared again.  Used only when both sides are host-readable;
    otherwise everything is hashed.  This is what keeps a migration's downtime
    proportional to what changed after the bulk copy.  *source_listing*: with
    *trusted*, the metadata listing of the (stopped) source a copy pass has just
    taken (:attr:`CopyResult.listing`), so the source is not walked twice.
    *source_snapshot*: the stopped source as a full pass read it while copying
    (:attr:`CopyResult.source_snapshot`); then only the target is read.
    """
    if source_snapshot is not None:
        return compare_snapshots(source_snapshot, snapshot(target))
    src_access = access(source)
    both_host = src_access.method == "host" and access(target).method == "host"
    use = trusted if both_host else None
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="podshift-verify") as pool:
        if use is not None and source_listing is not None and src_access.mountpoint is not None:
            want_f = pool.submit(_from_listing, src_access.mountpoint, source_listing, use)
        else:
            want_f = pool.submit(snapshot, source, trusted=use)
        got_f = pool.submit(snapshot, target, trusted=use)
        want, got = want_f.result(), got_f.result()
    verification = compare_snapshots(want, got)
    if use is not None:
        verification.notes.append(f"{len(use)} files verified before the stop and unchanged since: metadata compared")
    return verification


def _from_listing(root: Path, listing: list[Entry], trusted: Mapping[str, str]) -> Snapshot:
    st = os.lstat(root)
    _hash_untrusted(root, listing, trusted)
    return Snapshot(listing, (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid), "host")


def verified_files(verification: Verification) -> dict[str, str]:
    """Files (path -> sha256) identical on both sides in *verification*: what a later one may trust."""
    want, got = comparable(verification.source.entries), comparable(verification.target.entries)
    xattrs_src = {e.path: e.xattrs for e in verification.source.entries}
    xattrs_dst = {e.path: e.xattrs for e in verification.target.entries}
    return {
        e.path: e.sha256
        for e in verification.source.entries
        if e.type == "file"
        and e.sha256
        and want.get(e.path) == got.get(e.path)
        and xattrs_src.get(e.path) == xattrs_dst.get(e.path)
    }


def _hash_untrusted(root: Path, entries: list[Entry], trusted: Mapping[str, str]) -> None:
    """Fill in sha256 (and xattrs) of the files not in *trusted*; trusted ones get their recorded digest."""
    for e in entries:
        if e.type != "file":
            continue
        known = trusted.get(e.path)
        if known is not None:
            e.sha256 = known
            continue
        parent, _, name = e.path.rpartition("/")
        fd = _open_dir(root, parent)
        try:
            read_file(e, name, fd)
        finally:
            os.close(fd)


def compare_snapshots(want: Snapshot, got: Snapshot) -> Verification:
    """What differs between two snapshots: entries, xattrs (where both sides keep them), the top directory."""
    notes: list[str] = []
    problems = [p for p in [compare_entries(want.entries, got.entries)] if p]
    if want.root is not None and got.root is not None and want.root != got.root:
        problems.append(f"top directory (mode, uid, gid) {_fmt_root(got.root)}, expected {_fmt_root(want.root)}")
    xattr_problem, xattr_note = _xattr_difference(want.entries, got.entries)
    if xattr_problem:
        problems.append(xattr_problem)
    if xattr_note:
        notes.append(xattr_note)
    return Verification(want, got, "; ".join(problems), notes)


def _fmt_root(root: tuple[int, int, int]) -> str:
    return f"({root[0]:04o}, {root[1]}, {root[2]})"


def _xattr_difference(want: list[Entry], got: list[Entry]) -> tuple[str, str]:
    """Differing xattrs, compared in the namespaces (user., security. …) the target keeps at all."""
    if {e.path: e.xattrs for e in want if e.type != "hardlink"} == {
        e.path: e.xattrs for e in got if e.type != "hardlink"
    }:
        return "", ""  # identical everywhere (the common case): no namespace was dropped either
    kept = {k.split(".", 1)[0] for e in got for k in e.xattrs}
    by_path = {e.path: e for e in got if e.type != "hardlink"}
    dropped: set[str] = set()
    for e in want:
        other = by_path.get(e.path)
        if e.type == "hardlink" or other is None:
            continue
        expected = {k: v for k, v in e.xattrs.items() if k.split(".", 1)[0] in kept}
        dropped |= {k.split(".", 1)[0] for k in e.xattrs} - kept
        if expected != other.xattrs:
            return f"xattrs of {e.path!r} differ", ""
    note = f"the target keeps no {', '.join(sorted(dropped))} xattrs" if dropped else ""
    return "", note


# -- copying -----------------------------------------------------------------------------------------------
@dataclass
class Baseline:
    """A metadata listing of a source volume taken just before a copy pass began."""

    started: float  # time.time() when the listing began
    stats: dict[str, list[int | str]]  # path -> [type bits, size, mtime_ns, ctime_ns, mode, uid, gid, inode]

    def to_json(self) -> bytes:
        return json.dumps({"started": self.started, "stats": self.stats}, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Baseline:
        raw: dict[str, Any] = json.loads(data)
        return cls(float(raw["started"]), dict(raw["stats"]))


@dataclass
class CopyResult:
    """What one copy pass did."""

    source: str
    target: str
    method: str  # e.g. "host -> unshare"
    incremental: bool
    sent_entries: int
    removed_entries: int
    bytes: int  # tar stream bytes (a host -> host full pass: file bytes copied)
    seconds: float
    #: the listing a later pass compares with (host-readable sources only)
    baseline: Baseline | None = field(default=None, repr=False)
    #: the paths an incremental pass sent or removed (None: everything was sent)
    sent: list[str] | None = field(default=None, repr=False)
    #: the source's metadata listing this pass took (host-readable sources only)
    listing: list[Entry] | None = field(default=None, repr=False)
    #: the stopped source read (content hashed) while it was copied: :func:`verify_copy` need not read it again
    source_snapshot: Snapshot | None = field(default=None, repr=False)


def _stat_keeper(stats: dict[str, list[int | str]]) -> Callable[[str, os.stat_result], None]:
    """An ``on_stat`` hook filling *stats* with what a later pass compares (see :class:`Baseline`)."""

    def keep(rel: str, st: os.stat_result) -> None:
        stats[rel] = [
            stat.S_IFMT(st.st_mode),
            st.st_size,
            st.st_mtime_ns,
            st.st_ctime_ns,
            stat.S_IMODE(st.st_mode),
            st.st_uid,
            st.st_gid,
            st.st_ino,
        ]

    return keep


def _listing(root: Path) -> tuple[list[Entry], dict[str, list[int | str]]]:
    """The metadata walk of a host-readable volume: entries plus the stats a later pass compares."""
    stats: dict[str, list[int | str]] = {}
    entries = walk_entries(root, hashes=False, on_stat=_stat_keeper(stats))
    return entries, stats


def _changes(
    baseline: Baseline, entries: list[Entry], stats: dict[str, list[int | str]]
) -> tuple[list[str], list[str]]:
    """(paths to send, paths to remove first) for an incremental pass."""
    old = baseline.stats
    fine = any(int(v[3]) % 1_000_000_000 for v in old.values()) or not old
    recent = int(baseline.started * 1e9) - (CTIME_SLACK_NS if fine else COARSE_CTIME_SLACK_NS)
    remove = {p for p in old if p not in stats}
    send: set[str] = set()
    for path, now in stats.items():
        before = old.get(path)
        if before is not None and before[0] != now[0]:
            remove.add(path)  # a type change: tar cannot turn a directory into a file in place
        if before != now or int(now[3]) >= recent:
            send.add(path)
    # A hardlink group goes whole: tar links later members to the first one in the same stream.
    groups: dict[str, set[str]] = {}
    for e in entries:
        if e.type == "hardlink":
            groups.setdefault(e.link, {e.link}).add(e.path)
    for members in groups.values():
        if members & send:
            send |= members
    # Parents too (just the directory entries): extracting into a directory changes its mtime.
    for path in list(send):
        parts = path.split("/")
        send.update("/".join(parts[:i]) for i in range(1, len(parts)))
    return sorted(send), sorted(remove, reverse=True)


def copy_volume(
    source: VolumeRef,
    target: VolumeRef,
    *,
    baseline: Baseline | None = None,
    live: bool = False,
    progress: ProgressFn = _quiet,
) -> CopyResult:
    """Copy *source*'s data into the existing volume *target* (either engine, either direction).

    Without *baseline*: everything, after emptying *target* (so an interrupted
    pass is simply run again).  With *baseline* (from an earlier pass's
    result): only what changed since, when the source is host-readable and the
    target is reached through tar; otherwise everything again.  *live*: the
    source is still in use, so tar's "file changed as we read it" is expected
    (the next pass sends those files again).  The copy is not verified here:
    call :func:`verify_copy` once the source's users are stopped.
    """
    return _copy(source, target, baseline=baseline, live=live, progress=progress, sync=True)


def _copy(
    source: VolumeRef,
    target: VolumeRef,
    *,
    baseline: Baseline | None,
    live: bool,
    progress: ProgressFn,
    sync: bool,
) -> CopyResult:
    """:func:`copy_volume`; without *sync* the caller writes the target's filesystem out (:func:`_sync`)."""
    src, dst = access(source), access(target)
    method = f"{src.method} -> {dst.method}"
    what = f"{source.name} -> {target}"
    began = time.monotonic()
    listing_started = time.time()
    incremental = baseline is not None and src.method == "host" and dst.method != "api"
    if (
        not incremental
        and src.mountpoint is not None
        and dst.mountpoint is not None
        and src.method == dst.method == "host"
    ):
        return _copy_direct(source, target, src.mountpoint, dst.mountpoint, live=live, progress=progress, sync=sync)
    entries: list[Entry] = []
    stats: dict[str, list[int | str]] = {}
    walker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="podshift-walk")
    try:
        walked = None
        if src.method == "host" and src.mountpoint is not None:
            if incremental:
                entries, stats = _listing(src.mountpoint)
            else:
                # A full pass: the source is walked (content hashed unless it still changes) while it streams.
                walked = walker.submit(
                    walk_entries, src.mountpoint, entries, hashes=not live, on_stat=_stat_keeper(stats)
                )
        result = _pass(source, target, src, dst, entries, stats, baseline, live=live, progress=progress)
        if walked is not None:
            entries = walked.result()
    finally:
        walker.shutdown(wait=True)
    if sync:
        _sync(dst, target)
    seconds = time.monotonic() - began
    result.seconds = seconds
    result.baseline = Baseline(listing_started, stats) if src.method == "host" else None
    result.sent_entries = len(result.sent) if result.sent is not None else len(stats)
    result.listing = entries if src.method == "host" else None
    if walked is not None and not live and src.mountpoint is not None:
        top = os.lstat(src.mountpoint)
        result.source_snapshot = Snapshot(entries, (stat.S_IMODE(top.st_mode), top.st_uid, top.st_gid), "host")
    log.info("%s (%s): %d entries, %d bytes in %.2f s", what, method, result.sent_entries, result.bytes, seconds)
    return result


def _pass(
    source: VolumeRef,
    target: VolumeRef,
    src: Access,
    dst: Access,
    entries: list[Entry],
    stats: dict[str, list[int | str]],
    baseline: Baseline | None,
    *,
    live: bool,
    progress: ProgressFn,
) -> CopyResult:
    """The tar part of :func:`_copy` (times, listing and baseline are filled in by the caller)."""
    what = f"{source.name} -> {target}"
    incremental = baseline is not None and src.method == "host" and dst.method != "api"
    send: list[str] | None = None
    remove: list[str] = []
    removed = 0
    if incremental and baseline is not None:
        send, remove = _changes(baseline, entries, stats)
        removed = len(remove)
        _remove(dst, target, remove)
        log.info("%s: incremental pass, %d entries to send, %d to remove", what, len(send), removed)
    else:
        _claim(target)
        _empty(dst, target)
    # (A full pass's listing is still being taken: its size is not known yet.)
    total = sum(int(stats[p][1]) for p in send if p in stats) if send is not None else 0
    counter = _Counter(what, progress, total)
    if send is not None and not send and not removed:
        sent_bytes = 0  # nothing changed since the baseline: not even the top directory is touched
    else:
        sent_bytes = _stream(src, dst, source, target, send, live=live, counter=counter)
    touched = None if send is None else sorted({*send, *remove})
    return CopyResult(
        str(source),
        str(target),
        f"{src.method} -> {dst.method}",
        incremental,
        0,
        removed,
        sent_bytes,
        0.0,
        sent=touched,
    )


def _copy_direct(
    source: VolumeRef,
    target: VolumeRef,
    src_root: Path,
    dst_root: Path,
    *,
    live: bool,
    progress: ProgressFn,
    sync: bool,
) -> CopyResult:
    """A full pass between two directories this process reads and writes as the containers see them.

    ``cp -a`` copies (in the kernel: ``copy_file_range``, holes kept, owners,
    modes, links, xattrs and timestamps preserved) while, on the other core, the
    source is walked once: the listing a later pass compares with, and (unless
    *live*: the source still changes) every file's sha256, which
    :func:`verify_copy` then uses instead of reading the source again.  The
    one-off Podman claim (:func:`_claim`) runs at the same time; the top
    directory's owner and mode are set again once both are done.
    """
    what = f"{source.name} -> {target}"
    began = time.monotonic()
    listing_started = time.time()
    stats: dict[str, list[int | str]] = {}
    walked: list[Entry] = []
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="podshift-copy") as pool:
        walk_f = pool.submit(walk_entries, src_root, walked, hashes=not live, on_stat=_stat_keeper(stats))
        claim_f = pool.submit(_claim, target)
        try:
            _empty(Access("host", dst_root), target)
            progress(what, 0, 0)
            _cp(src_root, dst_root, live=live, what=f"copy {source} -> {target}")
        finally:
            claim_f.result()
            entries = walk_f.result()
    root = os.lstat(src_root)
    _set_root(dst_root, root)
    if sync:
        _sync(Access("host", dst_root), target)
    sent = sum(int(v[1]) for v in stats.values() if v[0] == stat.S_IFREG)
    progress(what, sent, len(entries))
    seconds = time.monotonic() - began
    log.info("%s (host -> host, cp -a): %d entries, %d bytes in %.2f s", what, len(entries), sent, seconds)
    hashed = None
    if not live:
        hashed = Snapshot(entries, (stat.S_IMODE(root.st_mode), root.st_uid, root.st_gid), "host")
    return CopyResult(
        str(source),
        str(target),
        "host -> host",
        False,
        len(entries),
        0,
        sent,
        seconds,
        Baseline(listing_started, stats),
        None,
        entries,
        hashed,
    )


def _cp(src_root: Path, dst_root: Path, *, live: bool, what: str) -> None:
    """``cp -a SRC/. DST/`` (a live source may lose files under cp's feet: the next pass sends them)."""
    argv = ["cp", "-a", "--", f"{src_root}/.", f"{dst_root}/"]
    proc = _Proc(argv, what)
    proc._start(stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    try:
        proc._finish((0,), failed=False)  # a full target is reported as such (TransferError)
    except CommandError as e:
        # cp exits 1 for every error: while the source serves, files vanishing under it are expected
        # (the next pass sends what changed, and the verification after the stop catches the rest).
        if not live or e.returncode != 1:
            raise
        log.info("%s: cp reported (expected while the source is in use): %s", what, e.stderr.strip()[-500:])


def _set_root(dst_root: Path, want: os.stat_result) -> None:
    """Give the target's top directory the source's owner and mode (after Podman's one-off chown)."""
    fd = os.open(dst_root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        os.fchown(fd, want.st_uid, want.st_gid)
        os.fchmod(fd, stat.S_IMODE(want.st_mode))
    finally:
        os.close(fd)


def transfer_volume(
    source: VolumeRef,
    target: VolumeRef,
    *,
    baseline: Baseline | None = None,
    trusted: Mapping[str, str] | None = None,
    progress: ProgressFn = _quiet,
) -> tuple[CopyResult, Verification]:
    """Copy (a final pass when *baseline* is given) and verify; raise :class:`TransferError` on a mismatch.

    The source's users must be stopped: what is verified is what the target
    will serve.
    """
    result = _copy(source, target, baseline=baseline, live=False, progress=progress, sync=False)
    still = None
    if trusted is not None and result.sent is not None:
        # Only what this pass did not touch stays trusted (a full pass touched everything).
        touched = set(result.sent)
        still = {p: d for p, d in trusted.items() if p not in touched}
    # The target's filesystem is written out while it is read back: the same files either way.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="podshift-sync") as pool:
        synced = pool.submit(_sync, access(target), target)
        verification = verify_copy(
            source, target, trusted=still, source_listing=result.listing, source_snapshot=result.source_snapshot
        )
        synced.result()
    if not verification.ok:
        raise TransferError(str(source), str(target), f"the copy does not match: {verification.difference}")
    return result, verification


class _Counter:
    def __init__(self, what: str, progress: ProgressFn, total: int) -> None:
        self.what, self.progress, self.total, self.done = what, progress, total, 0

    def __call__(self, n: int) -> None:
        self.done += n
        self.progress(self.what, self.done, 0)


def _names_input(names: Sequence[str]) -> bytes:
    """A NUL-separated list for ``tar --null -T -`` (``./`` first, so no name reads as an option)."""
    return b"".join(b"./" + os.fsencode(n) + b"\0" if n else b".\0" for n in names)


def _stream(
    src: Access,
    dst: Access,
    source: VolumeRef,
    target: VolumeRef,
    names: list[str] | None,
    *,
    live: bool,
    counter: _Counter,
) -> int:
    """Send *source* (all, or the listed *names* plus the top directory) into *target*; return bytes sent."""
    if src.method == "api":
        chunks: Iterable[bytes] = source.runtime.volume_export(source.name)
        return _sink(dst, target, _counted(chunks, counter))
    assert src.mountpoint is not None
    argv = [*TAR_CREATE, "-cf", "-", "-C", str(src.mountpoint)]
    if names is None:
        argv.append(".")
    else:
        argv += ["--no-recursion", "--null", "--verbatim-files-from", "-T", "-"]
    names_bytes = None if names is None else _names_input(["", *names])
    with _Source(src.wrap(argv), strict=not live, what=f"read {source}", names=names_bytes) as proc:
        if dst.method == "api":
            return _sink(dst, target, _counted(proc.chunks(), counter))
        assert dst.mountpoint is not None
        with _Sink(dst.wrap([*TAR_EXTRACT, "-C", str(dst.mountpoint)]), what=f"write {target}") as sink:
            return _splice(proc.fd, sink.fd, counter)


def _counted(chunks: Iterable[bytes], counter: _Counter) -> Iterator[bytes]:
    for chunk in chunks:
        counter(len(chunk))
        yield chunk


def _sink(dst: Access, target: VolumeRef, chunks: Iterable[bytes]) -> int:
    """Unpack a tar stream into *target* (tar for host/unshare access, else the engine's import)."""
    total = 0

    def count(it: Iterable[bytes]) -> Iterator[bytes]:
        nonlocal total
        for chunk in it:
            total += len(chunk)
            yield chunk

    if dst.method == "api":
        target.runtime.volume_import(target.name, count(chunks))
        return total
    assert dst.mountpoint is not None
    with _Sink(dst.wrap([*TAR_EXTRACT, "-C", str(dst.mountpoint)]), what=f"write {target}") as sink:
        for chunk in count(chunks):
            view = memoryview(chunk)
            while view:
                view = view[os.write(sink.fd, view) :]
    return total


def _splice(source: int, dest: int, counter: _Counter) -> int:
    """Move bytes pipe to pipe in the kernel (read/write where splice is refused)."""
    total = 0
    use_splice = True
    while True:
        try:
            if use_splice:
                n = os.splice(source, dest, BLOCK)
            else:
                data = os.read(source, BLOCK)
                n = len(data)
                view = memoryview(data)
                while view:
                    view = view[os.write(dest, view) :]
        except OSError as e:
            if e.errno == errno.EINVAL and use_splice:
                use_splice = False
                continue
            if e.errno == errno.EPIPE:
                break  # the target's tar exited: its exit status says why
            raise
        if n == 0:
            break
        total += n
        counter(n)
    return total


class _Proc:
    """A tar process (possibly as another user) whose stderr goes to a private temporary file."""

    def __init__(self, argv: list[str], what: str) -> None:
        self.argv, self.what = argv, what
        # Closed in _finish (or when the program is missing): it outlives this method on purpose.
        self._messages: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115
        self.proc: subprocess.Popen[bytes] | None = None

    def _start(self, **pipes: Any) -> subprocess.Popen[bytes]:
        try:
            self.proc = subprocess.Popen(self.argv, stderr=self._messages, **pipes)
        except FileNotFoundError as e:
            self._messages.close()
            raise TransferError(self.what, self.what, f"{self.argv[0]} is not installed") from e
        return self.proc

    def _finish(self, ok_codes: tuple[int, ...], failed: bool) -> None:
        assert self.proc is not None
        if failed:
            self.proc.kill()
        rc = self.proc.wait()
        self._messages.seek(0)
        stderr = self._messages.read().decode("utf-8", "replace")
        self._messages.close()
        if rc not in ok_codes and not failed:
            if "No space left" in stderr:
                raise TransferError(self.what, self.what, "no space left on the target's filesystem")
            raise CommandError(self.argv, rc, stderr)
        if rc != 0 and not failed:
            log.info("%s: tar reported (expected while the source is in use): %s", self.what, stderr.strip()[-500:])


class _Source(_Proc):
    """``tar -c`` writing to a pipe we read (``fd``), optionally reading a names list on stdin."""

    def __init__(self, argv: list[str], *, strict: bool, what: str, names: bytes | None = None) -> None:
        super().__init__(argv, what)
        self.strict, self.names = strict, names
        self.fd = -1
        self._feeder: threading.Thread | None = None

    def __enter__(self) -> _Source:
        stdin_kind = subprocess.PIPE if self.names is not None else subprocess.DEVNULL
        proc = self._start(stdin=stdin_kind, stdout=subprocess.PIPE)
        assert proc.stdout is not None
        with contextlib.suppress(OSError):  # the default pipe size only costs speed
            fcntl.fcntl(proc.stdout.fileno(), _F_SETPIPE_SZ, BLOCK)
        self.fd = proc.stdout.fileno()
        if self.names is not None and proc.stdin is not None:
            stdin, names = proc.stdin, self.names

            def feed() -> None:
                with contextlib.suppress(BrokenPipeError), stdin:
                    stdin.write(names)

            # A thread: a long names list would fill the pipe while tar waits for us to read its output.
            self._feeder = threading.Thread(target=feed, name="podshift-tar-names", daemon=True)
            self._feeder.start()
        return self

    def chunks(self) -> Iterator[bytes]:
        while data := os.read(self.fd, BLOCK):
            yield data

    def __exit__(self, exc_type: object, *exc: object) -> None:
        assert self.proc is not None
        assert self.proc.stdout is not None
        if self._feeder is not None:
            self._feeder.join(timeout=60)
        self.proc.stdout.close()
        # tar exits 1 for "file changed as we read it": expected while the source still serves.
        self._finish((0,) if self.strict else (0, 1), exc_type is not None)


class _Sink(_Proc):
    """``tar -x`` reading from a pipe we write (``fd``)."""

    def __enter__(self) -> _Sink:
        proc = self._start(stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
        assert proc.stdin is not None
        self.fd = proc.stdin.fileno()
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        assert self.proc is not None
        assert self.proc.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            self.proc.stdin.close()
        self._finish((0,), exc_type is not None)


def _sync(dst: Access, target: VolumeRef) -> None:
    """Write the target's filesystem out (``sync -f``): a copy counts only once it is on disk."""
    if dst.mountpoint is None:
        return  # the engine's import wrote it; podshift cannot reach its filesystem
    run(dst.wrap(["sync", "-f", str(dst.mountpoint)]), timeout=3600).check()


# -- removing entries from a target (before a pass writes it) ---------------------------------------------------
def _empty(dst: Access, target: VolumeRef) -> None:
    """Remove everything inside *target* (its top directory stays)."""
    if dst.method == "host" and dst.mountpoint is not None:
        fd = os.open(dst.mountpoint, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            for name in os.listdir(fd):
                _remove_at(fd, name)
        finally:
            os.close(fd)
    elif dst.method == "unshare" and dst.mountpoint is not None:
        # find -delete never follows a symlink; it runs as the user, inside the user's namespace.
        run(dst.wrap(["find", str(dst.mountpoint), "-mindepth", "1", "-delete"]), timeout=3600).check()
    else:
        info = target.runtime.volume(target.name)
        if info is None:
            raise TransferError(str(target), str(target), "the target volume disappeared")
        if _api_volume_empty(target):
            return
        # No file access: the only way to empty it is to make it again, with the same labels.
        target.runtime.volume_remove(target.name, force=True)
        target.runtime.volume_create(target.name, dict(info.labels))


def _claim(target: VolumeRef) -> None:
    """Mount a new Podman volume once before it is written.

    Podman chowns a volume's top directory to the first container's user when
    that container mounts it (seen here: 999:999 became 0:0 under a root
    helper), which would undo the copied owner of the top directory.  A helper
    container mounting it first uses that one-time change up; the copy then
    sets the owner.  Docker copies image content only into an empty volume,
    and changes nothing in a filled one: nothing to do there.
    """
    runtime = target.runtime
    if not isinstance(runtime, PodmanRuntime):
        return
    image = ensure_helper_image(runtime)
    runtime.run(image, ["true"], mounts=[Mount(target.name, "/volume")]).check()


def _api_volume_empty(target: VolumeRef) -> bool:
    result = scan(target.runtime.volume_export(target.name), archive=str(target), safe=False)
    return not result.entries


def _remove(dst: Access, target: VolumeRef, paths: list[str]) -> None:
    """Remove *paths* (relative, deepest first) from *target*; missing ones are fine."""
    if not paths:
        return
    if dst.method == "host" and dst.mountpoint is not None:
        for path in paths:
            parent, _, name = path.rpartition("/")
            try:
                fd = _open_dir(dst.mountpoint, parent)
            except FileNotFoundError:
                continue
            try:
                _remove_at(fd, name)
            finally:
                os.close(fd)
        return
    if dst.method == "unshare" and dst.mountpoint is not None:
        # The target is written only by podshift until its stack starts, so its directories are the
        # ones the previous pass made (no symlink among the parents); rm runs as the user anyway.
        listing = b"".join(os.fsencode(str(dst.mountpoint / p)) + b"\0" for p in paths)
        run(dst.wrap(["xargs", "-0", "-r", "rm", "-rf", "--"]), input_bytes=listing, timeout=3600).check()
        return
    raise TransferError(str(target), str(target), "an incremental pass needs file access to the target")


def _open_dir(root: Path, rel: str) -> int:
    """Open *root*/*rel* component by component, never through a symlink."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    for part in [p for p in rel.split("/") if p]:
        try:
            nxt = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
        finally:
            os.close(fd)
        fd = nxt
    return fd


def _remove_at(dir_fd: int, name: str) -> None:
    try:
        st = os.lstat(name, dir_fd=dir_fd)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(name, dir_fd=dir_fd)  # fd-based: a symlink inside is removed, never followed
    else:
        os.unlink(name, dir_fd=dir_fd)


__all__ = [
    "Access",
    "Baseline",
    "CopyResult",
    "Snapshot",
    "TransferError",
    "Verification",
    "VolumeRef",
    "access",
    "compare_snapshots",
    "copy_volume",
    "snapshot",
    "transfer_volume",
    "verified_files",
    "verify_copy",
]
