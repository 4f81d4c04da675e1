"""Trusting a deep verification already done, so a readiness run does not re-hash the backup.

``podshift backup`` (which hashes every byte as it writes) and ``podshift
backup --verify`` (which re-reads every byte) record, in the host state
directory, what each file of the backup looked like then: device, inode,
size, mtime and ctime.  The readiness check then verifies structure,
manifests, signature and sizes — cheap whatever the backup's size — and
trusts the contents when every file is still the very same file.  Any write,
replacement or ``touch`` changes the ctime (which no unprivileged process can
set back), so a changed file is deep-verified again.

The record lives in host state (root's or the user's own), not in the
project directory, which may be writable by someone hostile.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from pathlib import Path

from podshift.atomic import write_file_atomically
from podshift.paths import host_state_dir

log = logging.getLogger(__name__)
RECORDS = "backup-verifications"


def _record_path(backup: Path) -> Path:
    key = hashlib.sha256(str(backup.resolve()).encode()).hexdigest()[:32]
    return host_state_dir() / RECORDS / f"{key}.json"


def fingerprint(backup: Path) -> dict[str, list[int]]:
    """Every file of *backup* as (device, inode, size, mtime_ns, ctime_ns), by relative path."""
    found: dict[str, list[int]] = {}
    for path in sorted(backup.rglob("*")):
        st = path.lstat()
        if path.is_symlink() or not path.is_file():
            continue
        found[str(path.relative_to(backup))] = [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]
    return found


def record(backup: Path, how: str) -> None:
    """Remember that *backup*'s files, as they are now, passed a deep verification (*how*: what did it)."""
    path = _record_path(backup)
    body = json.dumps(
        {"backup": str(backup.resolve()), "verified_at": time.time(), "how": how, "files": fingerprint(backup)}
    ).encode()
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_file_atomically(path, body, 0o600)
    except OSError as e:  # only speed is lost: the next check verifies deeply again
        log.warning("could not record the verification of %s in %s: %s", backup, path, e)


def trusted(backup: Path) -> tuple[float, str] | None:
    """(when, how) of a deep verification of exactly these files, or None."""
    path = _record_path(backup)
    try:
        if path.stat().st_uid != os.geteuid():
            return None  # not ours: not trusted
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    if data.get("backup") != str(backup.resolve()) or data.get("files") != fingerprint(backup):
        return None
    return float(data["verified_at"]), str(data.get("how", "verification"))
