"""A recovery scenario as a pytest session: which checks it keeps, and the seed's recovery log."""

from __future__ import annotations

import shutil

import pytest

from .conftest import CHECKS_CONFTEST, EXAMPLE

STEP = """
from podshift.steps import Step


class Mend(Step):
    name = "mend"
    title = "Mend the stack"
    action = "recover"
    scenarios = ("failed-startup",)

    def run(self, ctx):
        ctx.log.info("mending %s", ctx.project.name)
        return "mended"


def pytest_podshift_steps(config, action, scenario):
    return [Mend()]
"""

CHECKS = '''
import pytest

pytestmark = pytest.mark.recovery


@pytest.mark.scenario("failed-startup")
@pytest.mark.category("compose")
def test_startup():
    """Started."""


@pytest.mark.scenario("failed-startup", "diagnose")
@pytest.mark.category("compose")
def test_shared():
    """Shared by two scenarios."""


@pytest.mark.scenario("network-issues")
@pytest.mark.category("network")
def test_network():
    """Networked."""
'''


@pytest.fixture
def recovery_tree(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(CHECKS_CONFTEST + STEP)
    pytester.makepyfile(test_recovery=CHECKS)
    shutil.copytree(EXAMPLE, pytester.path / "examples" / "phoenix-hydra")
    return pytester


def _args(p: pytest.Pytester) -> tuple[str, ...]:
    return ("--project-dir", str(p.path / "examples" / "phoenix-hydra"), "-p", "no:podshift-remediations", "-v")


def test_recover_keeps_only_the_scenarios_checks_and_logs_to_the_seeds_file(recovery_tree: pytest.Pytester) -> None:
    result = recovery_tree.runpytest("-m", "recovery", "--recover", "failed-startup", *_args(recovery_tree))
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(
        ["*recover-failed-startup::mend DONE*", "*test_startup PASSED*", "*test_shared PASSED*"]
    )
    assert "test_network" not in result.stdout.str()
    result.stdout.fnmatch_lines(["*1 deselected*"])
    log = (recovery_tree.path / "reports" / "migration-recovery.log").read_text()
    assert "mending phoenix-hydra" in log
    assert "step mend done: mended" in log


def test_an_unknown_scenario_name_in_a_marker_is_a_usage_error(recovery_tree: pytest.Pytester) -> None:
    recovery_tree.makepyfile(
        test_bad='import pytest\n\n@pytest.mark.recovery\n@pytest.mark.scenario("nope")\ndef test_x():\n    pass\n'
    )
    result = recovery_tree.runpytest("-m", "recovery", "--recover", "failed-startup", *_args(recovery_tree))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*@pytest.mark.scenario needs scenario names*'nope'*"])
