"""podshift's migration steps with a third party's step placed among them (pytester, --dry-run)."""

from __future__ import annotations

import re

import pytest

from .conftest import CHECKS_CONFTEST, example_copy

THIRD_PARTY = """
from podshift.remediation import CommandStep, Plan
from podshift.steps import Step


class DrainLoadBalancer(Step):
    name = "drain-load-balancer"
    title = "Drain the load balancer"
    action = "migrate"
    after = ("volumes-bulk-copy",)
    before = ("stop-docker",)

    def plan(self, ctx):
        return Plan(self.name, "project", self.title, commands=(CommandStep(("lbctl", "drain", "lb1")),))

    def run(self, ctx):
        raise AssertionError("a dry run runs nothing")


def pytest_podshift_steps(config, action, scenario):
    return [DrainLoadBalancer()]
"""


@pytest.fixture
def tree(checks_tree: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, docker_runtime: object) -> pytest.Pytester:
    monkeypatch.delenv("PODSHIFT_ROOTLESS_USER", raising=False)
    checks_tree.makeconftest(CHECKS_CONFTEST + THIRD_PARTY)
    checks_tree.makepyfile(test_post="import pytest\n\n@pytest.mark.post_migration\ndef test_x():\n    pass\n")
    return checks_tree


def test_third_party_step_is_planned_in_its_place(tree: pytest.Pytester) -> None:
    result = tree.runpytest(
        "-m", "post_migration", "--migrate", "--dry-run", "-p", "no:xdist", "--project-dir", str(example_copy(tree))
    )
    out = result.stdout.str()
    order = re.findall(r"^PLANNED\s+(\S+)$", out, flags=re.MULTILINE)
    assert order == [
        "prerequisites",
        "backup",
        "volumes-bulk-copy",
        "images",
        "drain-load-balancer",
        "stop-docker",
        "volumes-final-sync",
        "compose-rewrite",
        "bind-owners",
        "start-podman",
    ], out
    assert "$ lbctl drain lb1" in out
    assert "podshift migrate: PLANNED (10 steps; --dry-run changed nothing)" in out
    assert not (example_copy(tree) / ".docker-backup").exists()
