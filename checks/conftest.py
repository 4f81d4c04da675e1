"""The checks' session: the target project must load before any check runs."""

from __future__ import annotations

import pytest

from podshift.plugin import require_project


def pytest_configure(config: pytest.Config) -> None:
    # A bad --project-dir ends the run here with exit 4 and one line.
    require_project(config)
