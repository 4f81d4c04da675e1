"""The step machinery through pytester: a third party's steps, order, journal, resume, dry-run, reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from podshift.steps import Step, StepJournal, StepOrderError, order_steps

from .conftest import CHECKS_CONFTEST, example_copy

# A third party's own steps, from a conftest, with no change to podshift.
STEPS_CONFTEST = """
from pathlib import Path
from podshift.remediation import Plan, CommandStep
from podshift.steps import Step, StepFailed

HERE = Path(__file__).parent
LOG = HERE / "ran.log"


def note(what):
    with LOG.open("a") as f:
        f.write(what + "\\n")


class Drain(Step):
    name = "drain"
    title = "Drain the load balancer"
    action = "migrate"
    order = 10

    def plan(self, ctx):
        return Plan(self.name, "project", self.title, commands=(CommandStep(("lbctl", "drain", "lb1")),))

    def run(self, ctx):
        note("drain")
        ctx.record("drained", ["lb1"])
        return "lb1 drained"


class Move(Step):
    name = "move"
    title = "Move the stack"
    action = "migrate"
    after = ("drain",)

    def run(self, ctx):
        note("move")
        assert ctx.step_data("drain") == {"drained": ["lb1"]}
        if (HERE / "fail-move").exists():
            raise StepFailed(self.name, "the move broke", "podshift rollback")
        return "moved"


class Announce(Step):
    name = "announce"
    title = "Tell the team"
    action = "migrate"
    order = 50
    before = ("drain",)  # a constraint beats the order number

    def run(self, ctx):
        note("announce")


class Elsewhere(Step):
    name = "elsewhere"
    title = "A rollback step"
    action = "rollback"

    def starts_new_cycle(self, ctx):
        return (HERE / "on-podman-again").exists()

    def run(self, ctx):
        note("elsewhere")


def pytest_podshift_steps(config, action, scenario):
    return [Drain(), Move(), Announce(), Elsewhere()]
"""

CHECK = '''
import pytest

@pytest.mark.post_migration
@pytest.mark.category("compose")
def test_moved():
    """The stack moved."""
'''

# podshift's own steps are switched off: only the third party's run here.
ARGS = ("-m", "post_migration", "--migrate", "-p", "no:podshift-remediations", "-p", "no:xdist")


@pytest.fixture
def steps_tree(pytester: pytest.Pytester) -> pytest.Pytester:
    import shutil

    from .conftest import EXAMPLE

    pytester.makeconftest(CHECKS_CONFTEST + STEPS_CONFTEST)
    pytester.makepyfile(test_post=CHECK)
    shutil.copytree(EXAMPLE, pytester.path / "examples" / "phoenix-hydra")
    return pytester


def _ran(p: pytest.Pytester) -> list[str]:
    log = p.path / "ran.log"
    return log.read_text().split() if log.exists() else []


def _journal(p: pytest.Pytester) -> StepJournal:
    return StepJournal.open(example_copy(p), "migrate")


def _project(p: pytest.Pytester) -> tuple[str, ...]:
    return ("--project-dir", str(example_copy(p)))


def test_steps_run_in_order_before_the_checks_and_are_journaled(steps_tree: pytest.Pytester) -> None:
    result = steps_tree.runpytest(*ARGS, *_project(steps_tree), "-v", "--junitxml=junit.xml")
    assert result.ret == 0, result.stdout.str()
    assert _ran(steps_tree) == ["announce", "drain", "move"]
    result.stdout.fnmatch_lines(
        [
            "*migrate::announce DONE*",
            "*migrate::drain DONE*",
            "*migrate::move DONE*",
            "*test_post.py::test_moved PASSED*",
        ]
    )
    assert result.stdout.lines[-1].startswith("podshift migrate: DONE (3 done)")
    journal = _journal(steps_tree)
    assert [journal.state(s) for s in ("announce", "drain", "move")] == ["done"] * 3
    assert journal.data("drain") == {"drained": ["lb1"]}
    assert journal.steps()["drain"]["result"] == "lb1 drained"
    assert journal.finished()
    assert "elsewhere" not in journal.steps()
    junit = (steps_tree.path / "junit.xml").read_text()
    assert 'name="move"' in junit
    assert '<property name="podshift_outcome" value="done" />' in junit

    again = steps_tree.runpytest(*ARGS, *_project(steps_tree))
    assert again.ret == 0
    assert _ran(steps_tree) == ["announce", "drain", "move"], "a finished action ran its steps again"
    assert again.stdout.lines[-1].startswith("podshift migrate: NOTHING TO DO")


def test_a_failed_step_stops_the_run_and_the_next_run_resumes(steps_tree: pytest.Pytester) -> None:
    (steps_tree.path / "fail-move").touch()
    result = steps_tree.runpytest(*ARGS, *_project(steps_tree), "-rs")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*not run: step move failed*"])
    assert result.stdout.lines[-1] == "podshift migrate: FAILED at step move: the move broke; next: podshift rollback"
    journal = _journal(steps_tree)
    assert journal.state("move") == "failed"
    assert journal.stopped_at() == "move"
    assert journal.steps()["move"]["error"] == "the move broke"

    (steps_tree.path / "fail-move").unlink()
    resumed = steps_tree.runpytest(*ARGS, *_project(steps_tree), "-v")
    assert resumed.ret == 0, resumed.stdout.str()
    resumed.stdout.fnmatch_lines(["*migrate::drain ALREADY DONE*", "*migrate::move DONE*"])
    assert _ran(steps_tree) == ["announce", "drain", "move", "move"], "done steps ran again on resume"
    assert _journal(steps_tree).finished()


def test_dry_run_plans_and_changes_nothing(steps_tree: pytest.Pytester) -> None:
    result = steps_tree.runpytest(
        *ARGS, *_project(steps_tree), "--dry-run", "-rs", "--json-report", "--json-report-file=r.json"
    )
    assert result.ret == 0, result.stdout.str()
    assert _ran(steps_tree) == []
    assert not _journal(steps_tree).exists()
    assert result.stdout.lines[-1].startswith("podshift migrate: PLANNED (3 steps")
    result.stdout.fnmatch_lines(["*not run: --dry-run*"])
    report = json.loads((steps_tree.path / "r.json").read_text())
    drain = next(t for t in report["tests"] if t["nodeid"] == "migrate::drain")
    props = dict(drain["user_properties"][i].popitem() for i in range(len(drain["user_properties"])))
    assert props["podshift_outcome"] == "planned"
    assert "$ lbctl drain lb1" in props["step_plan"]


def test_the_step_journal_is_not_written_through_a_planted_symlink(steps_tree: pytest.Pytester) -> None:
    victim = steps_tree.path / "victim"
    victim.write_text("keep me\n")
    (example_copy(steps_tree) / ".podshift").symlink_to(steps_tree.path)
    result = steps_tree.runpytest(*ARGS, *_project(steps_tree))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert victim.read_text() == "keep me\n"
    assert _ran(steps_tree) == []


class _S(Step):
    action = "migrate"
    title = "t"

    def run(self, ctx: object) -> None:
        return None


def _step(name: str, order: int = 100, after: tuple[str, ...] = (), before: tuple[str, ...] = ()) -> Step:
    cls = type(name, (_S,), {"name": name, "order": order, "after": after, "before": before})
    step: Step = cls()
    return step


def test_order_follows_constraints_then_order_numbers() -> None:
    steps = [_step("c", 1, after=("b",)), _step("b", 5), _step("a", 9, before=("b",)), _step("d", 0)]
    assert [s.name for s in order_steps(steps)] == ["d", "a", "b", "c"]


@pytest.mark.parametrize(
    ("steps", "problem"),
    [
        ([_step("a", after=("nope",))], "which no plugin provides"),
        ([_step("a", before=("nope",))], "which no plugin provides"),
        ([_step("a", after=("b",)), _step("b", after=("a",))], "cycle through a, b"),
        ([_step("a"), _step("a")], "two steps are named 'a'"),
    ],
)
def test_bad_orders_are_refused(steps: list[Step], problem: str) -> None:
    with pytest.raises(StepOrderError, match=problem):
        order_steps(steps)


def test_a_bad_order_from_a_plugin_is_a_usage_error(steps_tree: pytest.Pytester) -> None:
    conftest = steps_tree.path / "conftest.py"
    conftest.write_text(conftest.read_text().replace('after = ("drain",)', 'after = ("nowhere",)'))
    result = steps_tree.runpytest(*ARGS, *_project(steps_tree))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*podshift migrate: step 'move' runs after 'nowhere', which no plugin provides*"])


def test_journal_is_atomic_json_in_a_private_directory(tmp_path: Path) -> None:
    journal = StepJournal.open(tmp_path, "migrate")
    journal.mark("x", "running")
    journal.record("x", "volumes", ["a", "b"])
    state_dir = tmp_path / ".podshift"
    assert oct(state_dir.stat().st_mode & 0o777) == "0o700"
    assert oct((state_dir / "migrate.json").stat().st_mode & 0o777) == "0o600"
    assert sorted(p.name for p in state_dir.iterdir()) == ["migrate.json"], "a temporary file was left behind"
    assert StepJournal.open(tmp_path, "migrate").data("x") == {"volumes": ["a", "b"]}
    (state_dir / "migrate.json").write_text("{not json")
    with pytest.raises(Exception, match="not valid JSON"):
        StepJournal.open(tmp_path, "migrate")


def test_an_action_session_ends_with_its_own_line_and_no_readiness_verdict(steps_tree: pytest.Pytester) -> None:
    result = steps_tree.runpytest(*ARGS, *_project(steps_tree))
    assert result.ret == 0, result.stdout.str()
    assert result.stdout.lines[-1].startswith("podshift migrate: DONE (3 done)")
    assert not [line for line in result.stdout.lines if line.startswith("podshift verdict:")], result.stdout.str()
    assert not [line for line in result.stdout.lines if "podshift readiness" in line], result.stdout.str()
    # Its page leads with the action's outcome, not a readiness verdict.
    page = (steps_tree.path / "reports" / "post-migration.html").read_text()
    assert "<h1>CHECKS PASSED</h1>" in page
    assert "podshift migrate: DONE (3 done)" in page
    assert "<title>podshift migrate: CHECKS PASSED" in page


def test_a_readiness_session_still_ends_with_the_verdict(steps_tree: pytest.Pytester) -> None:
    # The same tree and check without --migrate: a readiness run, its verdict is the last line.
    result = steps_tree.runpytest("-m", "post_migration", "-p", "no:xdist", *_project(steps_tree))
    assert result.ret == 0, result.stdout.str()
    assert result.stdout.lines[-1].startswith("podshift verdict: READY"), result.stdout.str()
    assert [line for line in result.stdout.lines if "podshift readiness" in line], result.stdout.str()
    page = (steps_tree.path / "reports" / "post-migration.html").read_text()
    assert "<h1>READY</h1>" in page
    assert "<title>podshift readiness: READY" in page


ROLLBACK_ARGS = ("-m", "post_migration", "--rollback", "-p", "no:podshift-remediations", "-p", "no:xdist")


def test_a_migrate_after_a_finished_rollback_starts_a_new_cycle(steps_tree: pytest.Pytester) -> None:
    state = example_copy(steps_tree) / ".podshift"
    for args in (ARGS, ROLLBACK_ARGS):
        assert steps_tree.runpytest(*args, *_project(steps_tree)).ret == 0
    assert _ran(steps_tree) == ["announce", "drain", "move", "elsewhere"]
    # A rollback run again is still nothing to do; the journals stay where they are.
    again = steps_tree.runpytest(*ROLLBACK_ARGS, *_project(steps_tree))
    assert again.stdout.lines[-1].startswith("podshift rollback: NOTHING TO DO"), again.stdout.str()
    assert sorted(p.name for p in state.glob("*.json")) == ["migrate.json", "rollback.json"]

    second = steps_tree.runpytest(*ARGS, *_project(steps_tree))
    assert second.ret == 0, second.stdout.str()
    assert second.stdout.lines[-1].startswith("podshift migrate: DONE (3 done)"), second.stdout.str()
    assert _ran(steps_tree)[4:] == ["announce", "drain", "move"], "the second migration's steps did not run"
    kept = sorted(p.name for p in state.glob("*-*.json"))
    assert [k.split("-")[0] for k in kept] == ["migrate", "rollback"], kept
    assert not (state / "rollback.json").exists()
    # ... so the second rollback runs its steps again.
    back = steps_tree.runpytest(*ROLLBACK_ARGS, *_project(steps_tree))
    assert back.stdout.lines[-1].startswith("podshift rollback: DONE"), back.stdout.str()
    assert _ran(steps_tree)[-1] == "elsewhere"


def test_a_migrate_resumed_after_a_newer_failure_keeps_its_journal(steps_tree: pytest.Pytester) -> None:
    assert steps_tree.runpytest(*ROLLBACK_ARGS, *_project(steps_tree)).ret == 0
    state = example_copy(steps_tree) / ".podshift"
    (steps_tree.path / "fail-move").touch()
    assert steps_tree.runpytest(*ARGS, *_project(steps_tree)).ret == 1  # archives the finished rollback
    assert list(state.glob("rollback-*.json"))
    (steps_tree.path / "fail-move").unlink()
    resumed = steps_tree.runpytest(*ARGS, *_project(steps_tree), "-v")
    resumed.stdout.fnmatch_lines(["*migrate::drain ALREADY DONE*", "*migrate::move DONE*"])
    assert not list(state.glob("migrate-*.json"))


def test_a_finished_action_whose_step_sees_a_new_cycle_runs_afresh(steps_tree: pytest.Pytester) -> None:
    assert steps_tree.runpytest(*ROLLBACK_ARGS, *_project(steps_tree)).ret == 0
    (steps_tree.path / "on-podman-again").touch()  # moved back by hand: no migrate journal says so
    again = steps_tree.runpytest(*ROLLBACK_ARGS, *_project(steps_tree))
    assert again.stdout.lines[-1].startswith("podshift rollback: DONE"), again.stdout.str()
    assert _ran(steps_tree) == ["elsewhere", "elsewhere"]
    assert list((example_copy(steps_tree) / ".podshift").glob("rollback-*.json"))
