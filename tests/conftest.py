"""Shared helpers for podshift's own tests (kept small: fixtures live next to their users)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "phoenix-hydra"

pytest_plugins = ["pytester"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "host_exclusive: the test breaks host-wide state others rely on (e.g. closes /dev/net/tun); "
        "it runs while no other integration test does",
    )


@pytest.fixture
def example_dir() -> Path:
    return EXAMPLE
