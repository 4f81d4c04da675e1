"""The restore extractor never writes outside its target, whatever member sequence it is fed.

A table of the spellings that slipped past the old raw-string checks, and a
hypothesis-generated stream of member sequences extracted into a target
surrounded by a sentinel tree: after each, everything outside the target
must be exactly as before.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import stat
import tarfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from podshift.backup.members import UnsafeArchive
from podshift.backup.restore import extract
from podshift.backup.tarscan import scan_file
from podshift.errors import PodshiftError

Member = tuple[str, bytes, str]  # (name, tar type, link target)


def archive(members: list[Member]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, link in members:
            info = tarfile.TarInfo(name)
            info.type, info.linkname, info.mode = kind, link, 0o644
            data = f"content of {name}".encode() if kind == tarfile.REGTYPE else b""
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data else None)
    return buf.getvalue()


def snapshot(root: Path, skip: Path) -> dict[str, tuple[object, ...]]:
    """Every path below *root* except *skip*'s subtree: type, mode, owner, content or link target."""
    seen: dict[str, tuple[object, ...]] = {}
    stack = [root]
    while stack:
        d = stack.pop()
        for entry in os.scandir(d):
            p = Path(entry.path)
            st_ = p.lstat()
            if p == skip:
                seen[str(p)] = ("target", stat.S_IFMT(st_.st_mode))  # its own mode is the archive root's
                continue
            if stat.S_ISLNK(st_.st_mode):
                what: object = os.readlink(p)
            elif stat.S_ISREG(st_.st_mode):
                what = hashlib.sha256(p.read_bytes()).hexdigest()
            else:
                what = None
                if stat.S_ISDIR(st_.st_mode):
                    stack.append(p)
            seen[str(p)] = (stat.S_IFMT(st_.st_mode), stat.S_IMODE(st_.st_mode), st_.st_uid, st_.st_gid, what)
    return seen


@pytest.fixture
def arena(tmp_path: Path) -> tuple[Path, Path]:
    """(outer, target): the target directory inside a tree of sentinels, with a sibling that links could reach."""
    outer = tmp_path / "outer"
    target = outer / "target"
    target.mkdir(parents=True)
    (outer / "sentinel").write_text("do not touch")
    (outer / "secrets").mkdir()
    (outer / "secrets" / "passwd").write_text("root:x:0:0")
    return outer, target


def _extract(data: bytes, target: Path) -> None:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        extract(tar, target, label="test.tar")


# -- spellings that got past the raw-string checks ---------------------------------------------------------
SYM, REG, LNK, DIR = tarfile.SYMTYPE, tarfile.REGTYPE, tarfile.LNKTYPE, tarfile.DIRTYPE
ESCAPES: dict[str, list[Member]] = {
    "dot-slash symlink name": [("./link", SYM, "{outer}/secrets"), ("link/planted", REG, "")],
    "double slash member": [("link", SYM, "{outer}/secrets"), ("link//planted", REG, "")],
    "dot component member": [("link", SYM, "{outer}/secrets"), ("./link/./planted", REG, "")],
    "symlink spelled with a double slash": [
        ("a", DIR, ""),
        ("a//link", SYM, "{outer}/secrets"),
        ("a/link/planted", REG, ""),
    ],
    "symlink spelled with a dot component": [("a/./link", SYM, "{outer}/secrets"), ("a/link/planted", REG, "")],
    "trailing slash symlink": [("link/", SYM, "{outer}/secrets"), ("link/planted", REG, "")],
    "symlink named dot": [(".", SYM, "{outer}/secrets"), ("planted", REG, "")],
    "symlink named dot-slash": [("./", SYM, "{outer}/secrets"), ("planted", REG, "")],
    "symlink in a deeper chain": [("d", DIR, ""), ("d/l", SYM, "{outer}"), ("d//l/secrets/planted", REG, "")],
    "hardlink through dot-dot spelled out": [("ok", REG, ""), ("hl", LNK, "ok/../../sentinel")],
    "hardlink to an absolute path": [("hl", LNK, "{outer}/sentinel")],
    "hardlink to a symlink": [("l", SYM, "{outer}/sentinel"), ("hl", LNK, "l")],
    "symlink replaced by a directory": [("l", SYM, "{outer}/secrets"), ("l", DIR, ""), ("l/planted", REG, "")],
    "file then symlink of the same name": [("f", REG, ""), ("f", SYM, "{outer}/sentinel")],
    "implicit directory turned into a symlink": [
        ("d/x", REG, ""),
        ("d", SYM, "{outer}/secrets"),
        ("d/planted", REG, ""),
    ],
    "dot-dot member": [("a/../../planted", REG, "")],
    "absolute member": [("/{outer}/planted", REG, "")],
    "empty name": [("", REG, "")],
}


@pytest.mark.parametrize("members", ESCAPES.values(), ids=ESCAPES.keys())
def test_escape_spellings_are_refused_before_and_during_extraction(
    arena: tuple[Path, Path], members: list[Member]
) -> None:
    outer, target = arena
    data = archive([(n.format(outer=outer), k, link.format(outer=outer)) for n, k, link in members])
    path = outer.parent / "crafted.tar"
    path.write_bytes(data)
    before = snapshot(outer, target)
    with pytest.raises(UnsafeArchive):
        scan_file(str(path), archive="crafted.tar", safe=True)  # the check run before anything is created
    with pytest.raises(UnsafeArchive):
        _extract(data, target)
    assert snapshot(outer, target) == before
    assert not list(outer.rglob("planted"))


@pytest.mark.parametrize("mtime", ["nan", "inf", "-inf", "1e400", "99999999999999999999"])
def test_a_time_no_file_can_have_is_refused_not_a_traceback(arena: tuple[Path, Path], mtime: str) -> None:
    """A PAX mtime is any decimal the archive's author wrote; utimensat takes 64-bit nanoseconds."""
    outer, target = arena
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("f")
        info.pax_headers = {"mtime": mtime}
        tar.addfile(info, io.BytesIO())
    path = outer.parent / "crafted.tar"
    path.write_bytes(buf.getvalue())
    with pytest.raises(UnsafeArchive, match="modification time"):
        scan_file(str(path), archive="crafted.tar", safe=True)
    with pytest.raises(UnsafeArchive, match="modification time"):
        _extract(buf.getvalue(), target)
    assert not (target / "f").exists()


def test_a_plain_archive_extracts_with_modes_links_and_holes(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, mode in (("./", DIR, 0o750), ("./d", DIR, 0o500), ("./d/x", REG, 0o4755)):
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.uid, info.gid = kind, mode, 999, 998
            info.size = 4 if kind == REG else 0
            tar.addfile(info, io.BytesIO(b"data") if kind == REG else None)
        sparse = tarfile.TarInfo("./sparse")
        body = bytes(4 << 20) + b"tail"
        sparse.size = len(body)
        tar.addfile(sparse, io.BytesIO(body))
        hard = tarfile.TarInfo("./d/hard")
        hard.type, hard.linkname = LNK, "./sparse"
        tar.addfile(hard)
        link = tarfile.TarInfo("./abs")
        link.type, link.linkname = SYM, "/etc/passwd"
        tar.addfile(link)
    target = tmp_path / "t"
    target.mkdir()
    _extract(buf.getvalue(), target)
    assert stat.S_IMODE(target.stat().st_mode) == 0o750
    assert stat.S_IMODE((target / "d").stat().st_mode) == 0o500
    x = (target / "d" / "x").stat()
    assert (stat.S_IMODE(x.st_mode), x.st_uid, x.st_gid) == (0o4755, 999, 998)
    s = (target / "sparse").stat()
    assert s.st_size == (4 << 20) + 4
    assert s.st_blocks * 512 < 1 << 20, "the hole was written out"
    assert (target / "d" / "hard").stat().st_ino == s.st_ino
    assert os.readlink(target / "abs") == "/etc/passwd"


# -- generated member sequences ------------------------------------------------------------------------------
_COMPONENTS = st.sampled_from(["a", "b", "link", ".", "..", "", "secrets", "sentinel"])
_NAMES = st.builds(
    lambda prefix, parts: prefix + "/".join(parts),
    st.sampled_from(["", "./", "/", "//", "././"]),
    st.lists(_COMPONENTS, min_size=1, max_size=4),
)
_KINDS = st.sampled_from([REG, DIR, SYM, LNK, tarfile.FIFOTYPE, tarfile.CHRTYPE])
_LINKS = st.one_of(_NAMES, st.sampled_from(["{outer}", "{outer}/secrets", "{outer}/sentinel", "..", "../..", "/"]))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(_NAMES, _KINDS, _LINKS), min_size=1, max_size=8))
def test_generated_member_sequences_never_write_outside_the_target(
    tmp_path_factory: pytest.TempPathFactory, members: list[Member]
) -> None:
    outer = tmp_path_factory.mktemp("fuzz")
    target = outer / "target"
    target.mkdir()
    (outer / "sentinel").write_text("do not touch")
    (outer / "secrets").mkdir()
    (outer / "secrets" / "passwd").write_text("root:x:0:0")
    before = snapshot(outer, target)
    data = archive([(n, k, link.format(outer=outer)) for n, k, link in members])
    with contextlib.suppress(PodshiftError):  # refused is fine, as long as nothing escaped
        _extract(data, target)
    assert snapshot(outer, target) == before
