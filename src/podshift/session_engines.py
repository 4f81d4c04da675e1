"""The engines a check session talks to, and what a check does when one does not answer.

Post-migration, post-rollback and recovery checks prove something about an
engine, so a silent engine *fails* them; readiness checks instead skip and
let the one check that asks "does the daemon answer?" say so.  One helper
serves both, so the wording and the closing of the connection stay the same.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal, TypeVar

import pytest

from podshift.engines import podman_user
from podshift.errors import EngineUnavailable
from podshift.runtimes import Runtime
from podshift.stepping import options_of

R = TypeVar("R", bound=Runtime)


def target_podman_user(config: pytest.Config) -> str:
    """``--rootless-user`` (or $PODSHIFT_ROOTLESS_USER), else the invoking user (root: rootful)."""
    return options_of(config).rootless_user or podman_user()


@contextmanager
def answering(runtime: R, *, if_down: Literal["fail", "skip"], why: str) -> Iterator[R]:
    """*runtime* once it answers; closed afterwards.

    When it does not answer, the requesting check fails (or is skipped) with
    *why*, formatted with ``{reason}`` (the engine's short reason) and
    ``{error}`` (the whole message, with its hint).
    """
    try:
        runtime.ping()
    except EngineUnavailable as e:
        runtime.close()
        message = why.format(reason=e.reason, error=e)
        if if_down == "fail":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    try:
        yield runtime
    finally:
        runtime.close()
