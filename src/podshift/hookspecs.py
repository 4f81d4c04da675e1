"""podshift's own hooks, added to pytest in ``pytest_addhooks`` (as pytest-xdist's newhooks.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from podshift.remediation import Fix
    from podshift.steps import Step


@pytest.hookspec
def pytest_podshift_fixes(config: pytest.Config) -> list[Fix]:
    """Return the fixes this plugin provides.

    A check names a fix with ``@pytest.mark.remediation("name")``; with
    ``--fix-issues`` a failed check's fix is planned, applied, journaled and
    the check is run again.  podshift's own fixes live in ``remediations/``;
    a third party returns its own from a conftest or plugin.
    """
    raise NotImplementedError


@pytest.hookspec
def pytest_podshift_steps(config: pytest.Config, action: str, scenario: str | None) -> list[Step]:
    """Return the steps this plugin provides for *action* (``migrate``, ``rollback``, ``recover``).

    Called once per session that runs an action (``--migrate``, ``--rollback``,
    ``--recover SCENARIO``).  Every implementation's steps are pooled, those whose
    ``action`` (and, for recover, ``scenarios``) match are kept, and they are
    ordered by their ``after``/``before`` names and ``order`` numbers.  podshift's
    own steps live in ``remediations/``; a third party returns its own (say,
    "drain the load balancer") from a conftest or plugin.
    """
    raise NotImplementedError
