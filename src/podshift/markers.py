"""podshift's markers: registered once, parsed once into frozen dataclasses.

Modelled on pytest's own ``skipping.py``: ``pytest_configure`` registers the
markers, :func:`check_meta` reads an item's markers into a :class:`CheckMeta`
and caches it in the item's stash.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

PHASES = ("prerequisites", "post_migration", "post_rollback", "recovery")
CATEGORIES = ("system", "docker", "podman", "filesystem", "network", "security", "backup", "compose")
SEVERITIES = ("critical", "warning", "info")

MARKERS = {
    "prerequisites": "a readiness check run before migrating (podshift phase)",
    "post_migration": "a check that proves a migration worked (podshift phase)",
    "post_rollback": "a check that proves a rollback worked (podshift phase)",
    "recovery": "a diagnosis check of a recovery scenario, run before and after its steps (podshift phase)",
    "scenario(name, ...)": "the recovery scenario(s) a recovery check belongs to (podshift recover SCENARIO)",
    "category(name)": f"what the check is about, one of: {', '.join(CATEGORIES)}",
    "severity(level)": f"what a failure means, one of: {', '.join(SEVERITIES)} (default critical)",
    "remediation(name)": "the podshift fix that can repair a failure of this check",
    "check_id(id)": "the check's stable id, e.g. network.ports-free (select with --check/--skip-check, waive by it)",
}

#: ``area.what-it-checks``: lower case, dot-separated, words joined by dashes.
CHECK_ID_PATTERN = re.compile(r"^[a-z][a-z0-9]*(\.[a-z0-9][a-z0-9-]*)+$")


@dataclass(frozen=True)
class CheckMeta:
    """What podshift's markers say about one check."""

    phases: tuple[str, ...]
    category: str | None
    severity: str
    remediation: str | None
    #: The stable id: from ``@pytest.mark.check_id``, else (third-party checks
    #: only) derived from the category and the function's name.
    check_id: str = ""
    #: Whether the id came from a ``check_id`` marker.
    explicit_id: bool = False

    @property
    def is_check(self) -> bool:
        return bool(self.phases)


_meta_key = pytest.StashKey[CheckMeta]()


def register(config: pytest.Config) -> None:
    for spec, help_text in MARKERS.items():
        config.addinivalue_line("markers", f"{spec}: {help_text}")


def _single_arg(item: pytest.Item, name: str, allowed: tuple[str, ...] | None) -> str | None:
    marker = item.get_closest_marker(name)
    if marker is None:
        return None
    value = marker.args[0] if marker.args else marker.kwargs.get("name", marker.kwargs.get("level"))
    if not isinstance(value, str) or (allowed is not None and value not in allowed):
        choices = f" (one of: {', '.join(allowed)})" if allowed else ""
        raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.{name} needs a name{choices}, got {value!r}")
    return value


def _derived_id(item: pytest.Item, category: str | None) -> str:
    """A third-party check without a ``check_id`` marker: ``category.function-name``."""
    name = getattr(item, "originalname", item.name).removeprefix("test_").replace("_", "-").lower()
    return f"{category or 'custom'}.{name}"


def check_meta(item: pytest.Item) -> CheckMeta:
    """The item's podshift metadata, parsed on first use and cached."""
    meta = item.stash.get(_meta_key, None)
    if meta is None:
        category = _single_arg(item, "category", CATEGORIES)
        explicit = _single_arg(item, "check_id", None)
        if explicit is not None and not CHECK_ID_PATTERN.match(explicit):
            raise pytest.UsageError(
                f"{item.nodeid}: @pytest.mark.check_id({explicit!r}) is not a check id "
                "(lower case, dot-separated, e.g. 'network.ports-free')"
            )
        meta = CheckMeta(
            phases=tuple(p for p in PHASES if item.get_closest_marker(p) is not None),
            category=category,
            severity=_single_arg(item, "severity", SEVERITIES) or "critical",
            remediation=_single_arg(item, "remediation", None),
            check_id=explicit or _derived_id(item, category),
            explicit_id=explicit is not None,
        )
        item.stash[_meta_key] = meta
    return meta


def own_checks_dirs() -> tuple[Path, ...]:
    """Where podshift's own checks live: the source tree's checks/ (and, packaged, podshift/checks)."""
    package = Path(__file__).resolve().parent
    return (package.parents[1] / "checks", package / "checks")


def requires_explicit_id(item: pytest.Item, config: pytest.Config) -> bool:
    """podshift's own checks must carry a ``check_id`` marker (others may, with an ini switch)."""
    if config.getini("podshift_require_check_ids"):
        return True
    path = Path(str(item.path)).resolve()
    return any(path.is_relative_to(d) for d in own_checks_dirs())


def validate_ids(items: list[pytest.Item], config: pytest.Config) -> None:
    """A podshift check without an id, or two checks sharing one, is a collection error (usage error)."""
    problems: list[str] = []
    owners: dict[str, tuple[str, str]] = {}
    for item in items:
        meta = check_meta(item)
        if not meta.is_check:
            continue
        if not meta.explicit_id and requires_explicit_id(item, config):
            problems.append(f"{item.nodeid}: no @pytest.mark.check_id(...) (every podshift check needs a stable id)")
            continue
        # Parametrized instances of one function share their id.
        owner = (str(item.path), getattr(item, "originalname", item.name))
        first = owners.setdefault(meta.check_id, owner)
        if first != owner:
            problems.append(f"check id {meta.check_id!r} is used twice: {first[0]}::{first[1]} and {item.nodeid}")
    if problems:
        raise pytest.UsageError("podshift: " + "; ".join(problems))


def scenarios_of(item: pytest.Item) -> tuple[str, ...]:
    """The recovery scenarios named by the item's ``scenario`` markers (all of them, closest first)."""
    from podshift.steps import SCENARIOS

    names: list[str] = []
    for marker in item.iter_markers("scenario"):
        for value in marker.args:
            if value not in SCENARIOS:
                raise pytest.UsageError(
                    f"{item.nodeid}: @pytest.mark.scenario needs scenario names (one of: {', '.join(SCENARIOS)}), "
                    f"got {value!r}"
                )
            names.append(value)
    return tuple(names)
