"""What the recovery checks share: one diagnosis of the stack, taken when the first check asks.

The checks run after the scenario's steps, so the diagnosis they read is
the stack as the steps left it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from podshift.compose.model import ComposeProject
from podshift.engines import podman_runtime_for
from podshift.recovery.diagnosis import Diagnosis, Finding, diagnose
from podshift.recovery.engines import both_engines
from podshift.runtimes import PodmanRuntime
from podshift.session_engines import answering, target_podman_user
from podshift.stepping import action_of


@pytest.fixture(scope="session")
def diagnosis(pytestconfig: pytest.Config, compose_project: ComposeProject) -> Diagnosis:
    """The stack as it is now; volume digests only for ``diagnose`` (they read every byte)."""
    _, scenario = action_of(pytestconfig)
    with both_engines(pytestconfig) as runtimes:
        return diagnose(compose_project, runtimes, volumes=scenario in (None, "diagnose"))


@pytest.fixture
def no_findings(diagnosis: Diagnosis, evidence: Callable[[str, object], None]) -> Callable[[str], None]:
    """``no_findings(area)``: fail with every finding of *area*, each with the command that fits."""

    def check(area: str) -> None:
        found: list[Finding] = [f for f in diagnosis.problems() if f.area == area]
        evidence(area, [f.what for f in found] or "no problem")
        if found:
            pytest.fail("\n".join(f"{f.what}; do: {f.command}" for f in found), pytrace=False)

    return check


@pytest.fixture(scope="session")
def target_podman(pytestconfig: pytest.Config) -> Iterator[PodmanRuntime]:
    """The Podman the stack runs on; a recovery check cannot judge without it (a failure, not a skip)."""
    with answering(podman_runtime_for(target_podman_user(pytestconfig)), if_down="fail", why="{error}") as runtime:
        yield runtime
