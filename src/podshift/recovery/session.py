"""A recovery scenario as a pytest session: which checks run, and where it logs.

``pytest checks -m recovery --recover SCENARIO`` keeps the recovery checks
whose ``scenario`` marker names SCENARIO (the others are deselected, so one
``-m recovery`` serves every scenario), and logs what the steps and the
Compose tool did to ``reports/migration-recovery.log``, the seed's name.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from podshift.markers import scenarios_of
from podshift.stepping import action_of, reports_dir_of

#: The seed's recovery log, in the reports directory.
RECOVERY_LOG = "migration-recovery.log"


class RecoverySession:
    """Selects the scenario's checks and writes the recovery log."""

    def __init__(self, config: pytest.Config, scenario: str) -> None:
        self.config = config
        self.scenario = scenario

    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        keep: list[pytest.Item] = []
        drop: list[pytest.Item] = []
        for item in items:
            is_recovery = item.get_closest_marker("recovery") is not None
            (drop if is_recovery and self.scenario not in scenarios_of(item) else keep).append(item)
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = keep


def configure(config: pytest.Config) -> RecoverySession | None:
    """Register the recovery session when ``--recover`` was given (not on xdist workers: actions run serially)."""
    action, scenario = action_of(config)
    if action != "recover" or scenario is None or hasattr(config, "workerinput"):
        return None
    session = RecoverySession(config, scenario)
    config.pluginmanager.register(session, "podshift-recovery")
    _log_to(config, reports_dir_of(config) / RECOVERY_LOG)
    return session


def _log_to(config: pytest.Config, target: Path) -> None:
    """Everything podshift logs during the scenario (steps, Compose output) goes to the recovery log too."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(target)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    root = logging.getLogger("podshift")
    root.setLevel(logging.INFO)
    root.addHandler(handler)

    def close() -> None:
        root.removeHandler(handler)
        handler.close()

    config.add_cleanup(close)
