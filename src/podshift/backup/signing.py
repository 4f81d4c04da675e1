"""Signing a backup's manifest with a key only the backing-up user can read.

A checksum file only catches accidents: whoever edits a manifest can
recompute it.  ``backup-manifest.sig`` holds an HMAC-SHA256, under a per-user
key in :func:`podshift.paths.host_state_dir` (``backup-signing.key``, 0600 in a
0700 directory, made on the first backup), of ``backup-manifest.sha256`` —
which itself covers both manifests byte for byte.

Verdicts: the signature matches (:data:`SIGNED`); it does not match under
this very key (:data:`TAMPERED`: always refused); or it cannot be checked —
no signature, no key here, or another key (:data:`UNCHECKABLE`: another
host, or the key changed), which restore accepts only when the caller trusts
the backup explicitly (``--trust-backup``).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import hmac
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from podshift.errors import PodshiftError
from podshift.paths import host_state_dir

KEY_NAME = "backup-signing.key"
SIG_NAME = "backup-manifest.sig"
_SCHEME = "hmac-sha256"

SIGNED, TAMPERED, UNCHECKABLE = "signed", "tampered", "uncheckable"


class SigningKeyError(PodshiftError):
    def __init__(self, path: Path, problem: str) -> None:
        self.path = path
        super().__init__(f"backup signing key {path}: {problem}")


@dataclass(frozen=True)
class Signature:
    """What the signature of a backup says (:data:`SIGNED`, :data:`TAMPERED` or :data:`UNCHECKABLE`) and why."""

    verdict: str
    detail: str


def key_path() -> Path:
    return host_state_dir() / KEY_NAME


def _key_id(key: bytes) -> str:
    """Names the key without revealing it, so 'another key' and 'tampered' can be told apart."""
    return hashlib.sha256(b"podshift-key-id\x00" + key).hexdigest()[:16]


def _open_state_dir(create: bool) -> int | None:
    path = host_state_dir()
    if create:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileExistsError):
                os.mkdir(path, 0o700)
        except OSError as e:
            raise SigningKeyError(path / KEY_NAME, f"cannot create {path}: {e.strerror}") from e
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise SigningKeyError(path / KEY_NAME, f"{path} is not a directory podshift may use: {e.strerror}") from e
    st = os.fstat(fd)
    if st.st_uid != os.geteuid() or stat.S_IMODE(st.st_mode) & 0o077:
        os.close(fd)
        raise SigningKeyError(
            path / KEY_NAME,
            f"{path} is owned by uid {st.st_uid} with mode {stat.S_IMODE(st.st_mode):o}; it must be 0700",
        )
    return fd


def _read_key(dir_fd: int) -> bytes | None:
    try:
        fd = os.open(KEY_NAME, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise SigningKeyError(key_path(), f"cannot read it: {e.strerror}") from e
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() or stat.S_IMODE(st.st_mode) & 0o077:
            raise SigningKeyError(
                key_path(),
                "not a 0600 file of this user: remove it (backups signed with it will then need --trust-backup)",
            )
        data = os.read(fd, 4096).strip()
    finally:
        os.close(fd)
    try:
        key = bytes.fromhex(data.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        key = b""
    if len(key) < 32:
        raise SigningKeyError(key_path(), "not a key podshift wrote (expected 64 hex digits)")
    return key


def load_key(*, create: bool) -> bytes | None:
    """This user's signing key; with *create*, made (0600, in a 0700 directory) when there is none."""
    dir_fd = _open_state_dir(create)
    if dir_fd is None:
        return None
    try:
        key = _read_key(dir_fd)
        if key is not None or not create:
            return key
        # Written under a private name, then linked into place: two first backups at once agree on one key.
        tmp = f".{KEY_NAME}.{secrets.token_hex(8)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=dir_fd)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, secrets.token_hex(32).encode() + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, KEY_NAME, src_dir_fd=dir_fd, dst_dir_fd=dir_fd, follow_symlinks=False)
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp, dir_fd=dir_fd)
        os.fsync(dir_fd)
        return _read_key(dir_fd)
    except OSError as e:
        if e.errno in (errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EDQUOT):
            raise SigningKeyError(key_path(), f"cannot create it: {e.strerror}") from e
        raise
    finally:
        os.close(dir_fd)


def sign(sums_bytes: bytes) -> bytes:
    """The content of ``backup-manifest.sig`` for a backup whose ``backup-manifest.sha256`` is *sums_bytes*."""
    key = load_key(create=True)
    if key is None:  # pragma: no cover - create=True returns a key or raises
        raise SigningKeyError(key_path(), "could not be created")
    mac = hmac.new(key, sums_bytes, hashlib.sha256).hexdigest()
    return f"{_SCHEME} {_key_id(key)} {mac}\n".encode()


def check(sums_bytes: bytes, signature: bytes | None) -> Signature:
    """Check *signature* (the ``.sig`` file's bytes, or None when absent) against this user's key."""
    if signature is None:
        return Signature(UNCHECKABLE, f"the backup has no {SIG_NAME}: the signature cannot be checked")
    fields = signature.decode("ascii", "replace").split()
    if len(fields) != 3 or fields[0] != _SCHEME:
        return Signature(TAMPERED, f"{SIG_NAME} is not a signature podshift wrote")
    key = load_key(create=False)
    if key is None:
        return Signature(
            UNCHECKABLE,
            f"the signature cannot be checked: no signing key at {key_path()} (another host or user, or the key "
            "was removed)",
        )
    if not hmac.compare_digest(fields[1], _key_id(key)):
        return Signature(
            UNCHECKABLE,
            f"the signature cannot be checked: signed with another key ({fields[1]}; this user's is "
            f"{_key_id(key)} at {key_path()}): another host, or the key changed",
        )
    if not hmac.compare_digest(fields[2], hmac.new(key, sums_bytes, hashlib.sha256).hexdigest()):
        return Signature(TAMPERED, "the manifest signature does not match: the manifest was changed after the backup")
    return Signature(SIGNED, f"signed with key {fields[1]}")
