"""The backup's manifests: ``backup-manifest.json`` (for machines) and ``backup-manifest.txt`` (for people).

``backup-manifest.sha256`` holds both files' digests, so an edited manifest
is caught by ``podshift backup --verify``.
"""

from __future__ import annotations

import decimal
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from podshift.backup.members import settable_time
from podshift.backup.tarscan import Entry

JSON_NAME, TXT_NAME, SUMS_NAME = "backup-manifest.json", "backup-manifest.txt", "backup-manifest.sha256"


@dataclass
class ConfigFile:
    path: str  # where it lives in the backup, relative to config/
    source: str  # absolute path it was read from (and is restored to)
    size: int
    mode: int
    mtime: float
    sha256: str
    sensitive: bool = False
    link: str = ""  # a symlink's target: no copy in config/, the link itself is restored
    #: The exact mtime (``mtime`` is a float: ~240 ns off at today's epoch seconds); None in older backups.
    mtime_ns: int | None = None

    def __post_init__(self) -> None:
        # The manifest is input (a backup directory others can write): a time no file can have, or two
        # that disagree, is refused here (ValueError/TypeError: "not a manifest this podshift wrote"), so
        # that verify, restore and rollback all see the same checked values.
        if isinstance(self.mtime, bool) or not isinstance(self.mtime, int | float) or not settable_time(self.mtime):
            raise ValueError(f"config {self.path!r}: mtime {self.mtime!r:.40} is no time a file can have")
        ns = self.mtime_ns
        if ns is None:
            return
        if isinstance(ns, bool) or not isinstance(ns, int):
            raise TypeError(f"config {self.path!r}: mtime_ns is not an integer")
        if abs(ns - self.mtime * 1e9) > 1e6:  # a float of seconds is off by ~240 ns, never by 1 ms
            raise ValueError(f"config {self.path!r}: mtime_ns and mtime disagree")

    @property
    def exact_mtime_ns(self) -> int:
        """The recorded mtime in nanoseconds: exact from newer backups, from the float in older ones."""
        if self.mtime_ns is not None:
            return self.mtime_ns
        return int(decimal.Decimal(repr(float(self.mtime))) * 1_000_000_000)


@dataclass
class Archive:
    """One volume (or bind-mounted data directory) as a tar archive in the backup."""

    name: str  # engine volume name, or the bind source path
    kind: str  # "volume" or "bind"
    archive: str  # relative path in the backup
    sha256: str
    size: int
    entries: list[Entry] = field(default_factory=list)


@dataclass
class Manifest:
    project: str
    project_dir: str
    created: float
    engine: str
    include_data: bool
    config: list[ConfigFile] = field(default_factory=list)
    archives: list[Archive] = field(default_factory=list)
    version: int = 1

    def to_json(self) -> bytes:
        # Built from the objects' own __dict__s and compact: asdict() deep-copies, and indent= or
        # sort_keys= slow the C encoder down, which for 20,000 entries costs a large share of a backup.
        body = {
            **{k: v for k, v in self.__dict__.items() if k not in ("config", "archives")},
            "config": [c.__dict__ for c in self.config],
            "archives": [
                {**{k: v for k, v in a.__dict__.items() if k != "entries"}, "entries": [e.__dict__ for e in a.entries]}
                for a in self.archives
            ],
        }
        return json.dumps(body, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        raw: dict[str, Any] = json.loads(data)
        archives = [Archive(**{**a, "entries": [Entry(**e) for e in a["entries"]]}) for a in raw.pop("archives")]
        config = [ConfigFile(**c) for c in raw.pop("config")]
        return cls(**raw, config=config, archives=archives)

    def to_text(self) -> bytes:
        def esc(path: str) -> str:
            if path.isascii() and path.isprintable():
                return path
            return path.encode("unicode_escape").decode("ascii")  # newlines and non-ASCII stay on one line

        lines = [
            f"# podshift backup of {self.project} ({self.project_dir})",
            f"# engine {self.engine}; data {'included' if self.include_data else 'not included'}",
            "# sha256                                                           size     mode  path",
            "## configuration",
        ]
        for c in self.config:
            flag = "  SENSITIVE" if c.sensitive else ""
            link = f" -> {esc(c.link)}" if c.link else ""
            lines.append(f"{c.sha256 or '-' * 64}  {c.size:>10}  {c.mode:04o}  {esc(c.source)}{link}{flag}")
        for a in self.archives:
            lines.append(f"## {a.kind} {esc(a.name)}: {a.archive} sha256 {a.sha256} ({a.size} bytes)")
            for e in a.entries:
                link = f" -> {esc(e.link)}" if e.link else ""
                digest = e.sha256 or "-" * 64
                lines.append(f"{digest}  {e.size:>10}  {e.mode:04o}  {esc(e.path)} [{e.type} {e.uid}:{e.gid}]{link}")
        sensitive = [c.source for c in self.config if c.sensitive]
        lines += [
            "## totals",
            f"config files: {len(self.config)} ({sum(c.size for c in self.config)} bytes), sensitive: {len(sensitive)}",
            f"archives: {len(self.archives)} ({sum(a.size for a in self.archives)} bytes, "
            f"{sum(len(a.entries) for a in self.archives)} entries)",
        ]
        return ("\n".join(lines) + "\n").encode()


def sums(json_bytes: bytes, text_bytes: bytes) -> bytes:
    return (
        f"{hashlib.sha256(json_bytes).hexdigest()}  {JSON_NAME}\n{hashlib.sha256(text_bytes).hexdigest()}  {TXT_NAME}\n"
    ).encode()
