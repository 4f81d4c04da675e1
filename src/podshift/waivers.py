"""Waivers: an accepted failure of one check, with a reason, an owner and an end date.

InSpec's semantics: a waived check still runs; when it fails it shows
WAIVED with the justification and does not change the verdict; a waiver
past its expiry date no longer applies (the check counts again) and every
report says it expired.  The file is ``podshift-waivers.yaml`` in the project
directory, or the one ``--waivers FILE`` names::

    waivers:
      - id: network.ports-free
        justification: the old proxy on 8080 is retired in the same change window
        expires: 2026-12-31
        who: alice@example.com
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from podshift.errors import WaiverError

WAIVERS_FILE = "podshift-waivers.yaml"
_FIELDS = ("id", "justification", "expires", "who")


@dataclass(frozen=True)
class Waiver:
    """One accepted failure of one check."""

    check_id: str
    justification: str
    expires: dt.date
    who: str

    def expired(self, today: dt.date) -> bool:
        """A waiver holds through its expiry date, and no longer the day after."""
        return today > self.expires

    def describe(self) -> str:
        return f"waived by {self.who} until {self.expires.isoformat()}: {self.justification}"


@dataclass(frozen=True)
class Waivers:
    """The waivers of one run (empty when there is no waiver file)."""

    source: Path | None = None
    entries: dict[str, Waiver] = field(default_factory=dict)

    def active(self, check_id: str, today: dt.date) -> Waiver | None:
        waiver = self.entries.get(check_id)
        return waiver if waiver is not None and not waiver.expired(today) else None

    def expired(self, today: dt.date) -> list[Waiver]:
        return [w for w in self.entries.values() if w.expired(today)]


def _date(path: Path, index: int, value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise WaiverError(path, f"waiver #{index + 1}: expires must be a date (YYYY-MM-DD), got {value!r}") from None


def load(path: Path) -> Waivers:
    """Parse a waiver file; anything malformed is a :class:`WaiverError` naming the entry."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise WaiverError(path, e.strerror or str(e)) from None
    try:
        data = YAML(typ="safe", pure=True).load(text)
    except YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise WaiverError(path, f"not valid YAML{where}: {getattr(e, 'problem', None) or e}") from None
    raw = data.get("waivers") if isinstance(data, dict) else None
    if not isinstance(raw, list):
        raise WaiverError(path, "expected a top-level 'waivers:' list of entries (id, justification, expires, who)")
    entries: dict[str, Waiver] = {}
    for index, entry in enumerate(raw):
        if not isinstance(entry, dict):
            raise WaiverError(path, f"waiver #{index + 1} is not a mapping of {', '.join(_FIELDS)}")
        missing = [f for f in _FIELDS if entry.get(f) in (None, "")]
        unknown = sorted(set(map(str, entry)) - set(_FIELDS))
        if missing or unknown:
            what = "; ".join(
                part
                for part in (
                    f"missing {', '.join(missing)}" if missing else "",
                    f"unknown {', '.join(unknown)}" if unknown else "",
                )
                if part
            )
            raise WaiverError(path, f"waiver #{index + 1} ({entry.get('id', 'no id')}): {what}")
        check_id = str(entry["id"])
        if check_id in entries:
            raise WaiverError(path, f"check {check_id} is waived twice")
        entries[check_id] = Waiver(
            check_id=check_id,
            justification=str(entry["justification"]).strip(),
            expires=_date(path, index, entry["expires"]),
            who=str(entry["who"]),
        )
    return Waivers(source=path, entries=entries)


_waivers_key = pytest.StashKey[Waivers]()


def waiver_file(config: pytest.Config) -> Path | None:
    """``--waivers FILE``, else the project's ``podshift-waivers.yaml`` when it exists."""
    from podshift.plugin import project_dir  # the plugin imports this module's users

    named = config.getoption("podshift_waivers", None)
    if named:
        path = Path(str(named)).expanduser()
        return path if path.is_absolute() else Path.cwd() / path
    default = project_dir(config) / WAIVERS_FILE
    return default if default.is_file() else None


def for_config(config: pytest.Config) -> Waivers:
    """This run's waivers, read once; a bad file is a usage error with one line."""
    waivers = config.stash.get(_waivers_key, None)
    if waivers is None:
        path = waiver_file(config)
        try:
            waivers = load(path) if path is not None else Waivers()
        except WaiverError as e:
            raise pytest.UsageError(f"podshift: {e}") from None
        config.stash[_waivers_key] = waivers
    return waivers


def today() -> dt.date:
    """The local date waivers expire against."""
    return dt.date.today()
