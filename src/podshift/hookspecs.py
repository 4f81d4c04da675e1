"""podshift's own hooks, added to pytest in ``pytest_addhooks`` (as pytest-xdist's newhooks.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from podshift.remediation import Fix


@pytest.hookspec
def pytest_podshift_fixes(config: pytest.Config) -> list[Fix]:
    """Return the fixes this plugin provides.

    A check names a fix with ``@pytest.mark.remediation("name")``; with
    ``--fix-issues`` a failed check's fix is planned, applied, journaled and
    the check is run again.  podshift's own fixes live in ``remediations/``;
    a third party returns its own from a conftest or plugin.
    """
    raise NotImplementedError
