"""A throwaway checks tree for pytester: podshift's checks conftest plus the bundled example."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ..conftest import EXAMPLE, REPO

CHECKS_CONFTEST = (REPO / "checks" / "conftest.py").read_text()


@pytest.fixture
def checks_tree(pytester: pytest.Pytester) -> pytest.Pytester:
    """An empty checks directory laid out like podshift's own, targeting a copy of the example."""
    pytester.makeconftest(CHECKS_CONFTEST)
    shutil.copytree(EXAMPLE, pytester.path / "examples" / "phoenix-hydra")
    # The target, as tox.ini's readiness job names the bundled example (the default is the current directory).
    pytester.makeini("[pytest]\npodshift_project_dir = examples/phoenix-hydra\n")
    return pytester


def example_copy(pytester: pytest.Pytester) -> Path:
    return pytester.path / "examples" / "phoenix-hydra"
