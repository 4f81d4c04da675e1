"""Shared helpers for podshift's own tests (kept small: fixtures live next to their users)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "phoenix-hydra"

pytest_plugins = ["pytester"]


@pytest.fixture
def example_dir() -> Path:
    return EXAMPLE
