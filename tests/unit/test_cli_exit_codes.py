"""The CLI's exit codes follow the checks session's: 0 ready, 1 not ready, 2 usage, 3 could not decide."""

from __future__ import annotations

import pytest

from podshift.cli import _exit_code


@pytest.mark.parametrize(
    ("session", "cli"),
    [(0, 0), (1, 1), (3, 3), (pytest.ExitCode.USAGE_ERROR, 2)],
)
def test_exit_code_of(session: int, cli: int) -> None:
    assert _exit_code(session) == cli
