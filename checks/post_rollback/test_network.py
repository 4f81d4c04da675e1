"""network: what the project publishes answers."""

from __future__ import annotations

import pytest

from podshift.compose.model import ComposeProject
from podshift.stack_health import endpoint_problems

pytestmark = [pytest.mark.post_rollback, pytest.mark.category("network")]


@pytest.mark.severity("critical")
@pytest.mark.check_id("rollback.network.endpoints-answer")
def test_every_published_endpoint_answers(rolled_back: ComposeProject, evidence) -> None:
    """Every published port answers on the host (an HTTP service answers a request)."""
    ports = [f"{s}:{p.published}" for s, p in rolled_back.published_ports]
    evidence("endpoints", ", ".join(ports) or "none published")
    problems = endpoint_problems(rolled_back)
    assert not problems, f"endpoints that do not answer: {'; '.join(problems)} — look at the service's logs"
