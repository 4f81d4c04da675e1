"""Host facts memoized per *generation*: a fix bumps the generation, so re-checks see the new host.

Check fixtures that read host state (the project model, a smoke container,
``podman info``) are memoized here rather than session-scoped, so that the
re-run of a fixed check observes the host as the fix left it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import pytest

T = TypeVar("T")
_generation_key = pytest.StashKey[int]()
_memo_key = pytest.StashKey[dict[tuple[str, int], Any]]()


def generation(config: pytest.Config) -> int:
    return config.stash.get(_generation_key, 0)


def host_changed(config: pytest.Config) -> None:
    """Forget every memoized fact (called after a fix changed the host)."""
    config.stash[_generation_key] = generation(config) + 1
    config.stash[_memo_key] = {}


def memo(config: pytest.Config, key: str, compute: Callable[[], T]) -> T:
    """*compute()* once per generation."""
    cache = config.stash.setdefault(_memo_key, {})
    slot = (key, generation(config))
    if slot not in cache:
        cache[slot] = compute()
    value: T = cache[slot]
    return value
