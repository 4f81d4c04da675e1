"""podshift's markers: registered once, parsed once into frozen dataclasses.

Modelled on pytest's own ``skipping.py``: ``pytest_configure`` registers the
markers, :func:`check_meta` reads an item's markers into a :class:`CheckMeta`
and caches it in the item's stash.
"""

from __future__ import annotations

from dataclasses import dataclass

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
}


@dataclass(frozen=True)
class CheckMeta:
    """What podshift's markers say about one check."""

    phases: tuple[str, ...]
    category: str | None
    severity: str
    remediation: str | None

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


def check_meta(item: pytest.Item) -> CheckMeta:
    """The item's podshift metadata, parsed on first use and cached."""
    meta = item.stash.get(_meta_key, None)
    if meta is None:
        meta = CheckMeta(
            phases=tuple(p for p in PHASES if item.get_closest_marker(p) is not None),
            category=_single_arg(item, "category", CATEGORIES),
            severity=_single_arg(item, "severity", SEVERITIES) or "critical",
            remediation=_single_arg(item, "remediation", None),
        )
        item.stash[_meta_key] = meta
    return meta


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
