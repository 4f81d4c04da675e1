"""Steps: the units that migrate, rollback and recover are made of.

A :class:`Step` is the action model fixes already follow (``podshift.remediation``),
applied to a sequence: a name and a one-line title, a :meth:`Step.plan` that says
what it will do on *this* host (a :class:`~podshift.remediation.Plan`: diffs,
exact commands, volumes with sizes), a :meth:`Step.done` test so that a re-run
skips what is already true, and a :meth:`Step.run` that does it.

Steps come from hook implementations (``pytest_podshift_steps``) and are ordered
by :func:`order_steps` (an order number, plus ``after``/``before`` names).  What a
step did is kept in a :class:`StepJournal`, ``<project>/.podshift/<name>.json``,
written atomically before and after each step, so that kill -9 anywhere and the
same command again resumes where it stopped.  ``podshift.stepping`` turns steps
into pytest items.
"""

from __future__ import annotations

import abc
import errno
import heapq
import json
import logging
import os
import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from podshift.errors import PodshiftError
from podshift.paths import open_project_state_dir, project_state_dir
from podshift.remediation import Plan

if TYPE_CHECKING:
    import pytest

    from podshift.compose.model import ComposeProject
    from podshift.progress import TerminalProgress
    from podshift.runtimes import DockerRuntime, PodmanRuntime, Runtime

#: What a journal holds: JSON values.
JSON = Any

ACTIONS = ("migrate", "rollback", "recover")
#: The seed's recovery scenarios (``podshift recover SCENARIO``).
SCENARIOS = ("failed-build", "failed-startup", "network-issues", "volume-issues", "permission-issues", "diagnose")

PENDING, RUNNING, DONE, FAILED = "pending", "running", "done", "failed"


class StepFailed(PodshiftError):
    """A step could not do its work; *reason* says why, *hint* what to run next."""

    def __init__(self, step: str, reason: str, hint: str = "") -> None:
        self.step = step
        self.reason = reason
        self.hint = hint
        super().__init__(f"{reason}" + (f"; next: {hint}" if hint else ""))


class StepOrderError(PodshiftError):
    """The steps of an action cannot be ordered (unknown name, cycle, duplicate)."""


class JournalCorrupt(PodshiftError):
    def __init__(self, path: Path, problem: str) -> None:
        self.path = path
        super().__init__(f"step journal {path}: {problem}; move it aside to start over")


@dataclass(frozen=True)
class ActionOptions:
    """The options of one action run (CLI flags / pytest options)."""

    dry_run: bool = False
    keep_data: bool = False
    force: bool = False
    cleanup: bool = False
    verify_only: bool = False
    auto_rollback: bool = False
    use_backup: bool = False
    trust_backup: bool = False
    rootless_user: str | None = None


class StepJournal:
    """The journal of one action in one project: ``<project>/.podshift/<name>.json``.

    It records, per step, its state (pending, running, done, failed), when it
    started and finished, its result line or error, and the data the step
    recorded (what it created: volume names, image ids, checksums, original
    owners).  Every change is written at once, atomically (temporary file with
    an unpredictable name in the 0700 state directory, fsync, rename, fsync of
    the directory), never through a symlink.
    """

    VERSION = 1

    def __init__(self, project_dir: Path, name: str) -> None:
        self.project_dir = project_dir
        self.name = name
        self.path = project_state_dir(project_dir) / f"{name}.json"
        self._doc: dict[str, Any] = self._read()

    @classmethod
    def open(cls, project_dir: Path, name: str) -> StepJournal:
        """The journal *name* of *project_dir* (empty when it does not exist yet)."""
        return cls(project_dir, name)

    # -- reading ---------------------------------------------------------------------
    def _read(self) -> dict[str, Any]:
        empty: dict[str, Any] = {"version": self.VERSION, "action": self.name, "steps": {}}
        if not project_state_dir(self.project_dir).is_dir():
            return empty
        fd = open_project_state_dir(self.project_dir)
        try:
            try:
                f = os.open(self.path.name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=fd)
            except FileNotFoundError:
                return empty
            except OSError as e:
                raise JournalCorrupt(self.path, f"cannot be opened ({e.strerror})") from e
            with os.fdopen(f, "rb") as fh:
                raw = fh.read(64 * 2**20)
        finally:
            os.close(fd)
        try:
            doc = json.loads(raw)
        except ValueError as e:
            raise JournalCorrupt(self.path, f"not valid JSON ({e})") from e
        if not isinstance(doc, dict) or not isinstance(doc.get("steps"), dict):
            raise JournalCorrupt(self.path, "not a podshift step journal")
        for name, entry in doc["steps"].items():
            if not isinstance(entry, dict) or entry.get("state") not in (PENDING, RUNNING, DONE, FAILED):
                raise JournalCorrupt(self.path, f"step {name!r} has no valid state")
        return doc

    def exists(self) -> bool:
        return bool(self._doc["steps"])

    def steps(self) -> dict[str, dict[str, Any]]:
        """Every step's entry, in the order they were first recorded."""
        steps: dict[str, dict[str, Any]] = self._doc["steps"]
        return steps

    def state(self, step: str) -> str:
        return str(self.steps().get(step, {}).get("state", PENDING))

    def data(self, step: str) -> dict[str, JSON]:
        data: dict[str, JSON] = self.steps().get(step, {}).get("data", {})
        return data

    def finished(self) -> bool:
        """Whether the last run went through every step it had (``finish()`` was called)."""
        return bool(self._doc.get("finished"))

    def stopped_at(self) -> str | None:
        """The first step that is not done (running or failed), if any."""
        for name, entry in self.steps().items():
            if entry["state"] != DONE:
                return str(name)
        return None

    # -- writing ---------------------------------------------------------------------
    def _entry(self, step: str) -> dict[str, Any]:
        return self.steps().setdefault(step, {"state": PENDING, "data": {}})

    def mark(self, step: str, state: str, *, result: str = "", error: str = "") -> None:
        entry = self._entry(step)
        entry["state"] = state
        now = time.time()
        if state == RUNNING:
            entry["started"] = now
            entry.pop("error", None)
            self._doc.pop("finished", None)
        if state in (DONE, FAILED):
            entry["finished"] = now
        if result:
            entry["result"] = result
        if error:
            entry["error"] = error
        self.save()

    def record(self, step: str, key: str, value: JSON) -> None:
        """Keep *value* under *key* for *step*, on disk before this returns."""
        self._entry(step)["data"][key] = value
        self.save()

    def finish(self) -> None:
        self._doc["finished"] = time.time()
        self.save()

    def save(self) -> None:
        body = json.dumps(self._doc, indent=1, sort_keys=False).encode() + b"\n"
        fd = open_project_state_dir(self.project_dir)
        try:
            write_in_dir(fd, self.path.name, body, 0o600)
        finally:
            os.close(fd)

    def finished_at(self) -> float | None:
        """When the last run went through every step (None: not finished)."""
        when = self._doc.get("finished")
        return float(when) if isinstance(when, int | float) else None

    def last_activity(self) -> float:
        """The latest time a step of this journal started or finished (0 for an empty journal)."""
        times = [t for e in self.steps().values() for t in (e.get("started"), e.get("finished"))]
        return max((float(t) for t in times if isinstance(t, int | float)), default=0.0)

    def archive(self) -> Path | None:
        """Move the journal aside as ``<name>-<timestamp>.json`` (a finished cycle); returns the new path."""
        if not self.path.exists():
            return None
        fd = open_project_state_dir(self.project_dir)
        try:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            target = f"{self.name}-{stamp}.json"
            n = 1
            while _exists_in(fd, target):  # two cycles in one second: never replace a kept journal
                n += 1
                target = f"{self.name}-{stamp}-{n}.json"
            os.rename(self.path.name, target, src_dir_fd=fd, dst_dir_fd=fd)
            os.fsync(fd)
        finally:
            os.close(fd)
        self._doc = {"version": self.VERSION, "action": self.name, "steps": {}}
        return self.path.with_name(target)


def _exists_in(dir_fd: int, name: str) -> bool:
    try:
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def write_in_dir(dir_fd: int, name: str, data: bytes, mode: int = 0o600) -> None:
    """Atomically replace *name* in the directory *dir_fd* with *data* (never through a symlink)."""
    tmp = f".{name}.{secrets.token_hex(8)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode, dir_fd=dir_fd)
    try:
        try:
            os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        os.fsync(dir_fd)
    except BaseException:
        try:
            os.unlink(tmp, dir_fd=dir_fd)
        except OSError as e:
            if e.errno != errno.ENOENT:
                raise
        raise


@dataclass
class StepContext:
    """What a step may use: the project, the journal, the engines, the options, progress and the log."""

    config: pytest.Config
    project: ComposeProject
    action: str
    scenario: str | None
    journal: StepJournal
    options: ActionOptions
    progress: TerminalProgress
    log: logging.Logger
    step: str = ""
    _docker: DockerRuntime | None = field(default=None, repr=False)
    _podman: PodmanRuntime | None = field(default=None, repr=False)

    @property
    def dry_run(self) -> bool:
        return self.options.dry_run

    @property
    def podman_user(self) -> str:
        """Who owns the target Podman: ``--rootless-user``, else the invoking user (root: rootful)."""
        from podshift.engines import podman_user

        return self.options.rootless_user or podman_user()

    def docker(self) -> DockerRuntime:
        """The Docker engine, connected on first use."""
        if self._docker is None:
            from podshift.runtimes import DockerRuntime

            self._docker = DockerRuntime()
        return self._docker

    def podman(self) -> PodmanRuntime:
        """The *target* Podman: the rootless user's when one is given, else the invoking user's."""
        if self._podman is None:
            from podshift.engines import podman_runtime_for

            self._podman = podman_runtime_for(self.podman_user)
        return self._podman

    def close(self) -> None:
        for runtime in (self._docker, self._podman):
            if runtime is not None:
                runtime.close()
        self._docker = self._podman = None

    def record(self, key: str, value: JSON) -> None:
        """Journal *value* for the current step (atomically, before this returns)."""
        self.journal.record(self.step, key, value)

    def recorded(self, key: str, default: JSON = None) -> JSON:
        return self.journal.data(self.step).get(key, default)

    def step_data(self, step: str) -> dict[str, JSON]:
        """What another step of this action recorded."""
        return self.journal.data(step)


R = TypeVar("R", bound="Runtime")


def reached(runtime: R, step: str, hint: str) -> R:
    """*runtime*, once it answers; a :class:`StepFailed` naming its socket (and *hint*) otherwise."""
    from podshift.errors import EngineUnavailable

    try:
        runtime.ping()
    except EngineUnavailable as e:
        raise StepFailed(step, str(e), hint) from e
    return runtime


class Step(abc.ABC):
    """One unit of an action.  Subclasses set the class attributes and implement :meth:`run`."""

    name: ClassVar[str]
    title: ClassVar[str]
    action: ClassVar[str]
    #: recover only: the scenarios this step belongs to
    scenarios: ClassVar[tuple[str, ...]] = ()
    order: ClassVar[int] = 100
    after: ClassVar[tuple[str, ...]] = ()
    before: ClassVar[tuple[str, ...]] = ()

    def plan(self, ctx: StepContext) -> Plan:
        """What this step would do on this host now (default: its title)."""
        return Plan(fix=self.name, scope="project", summary=self.title)

    def done(self, ctx: StepContext) -> bool:
        """Whether the step's work is already true; by default, whether the journal says so."""
        return ctx.journal.state(self.name) == DONE

    def starts_new_cycle(self, ctx: StepContext) -> bool:
        """Whether the host says a *finished* journal of this action belongs to an earlier cycle.

        Asked once when a session starts, before any step runs (:func:`podshift.cycles.begin_cycle`):
        True archives the journal, so every step runs afresh.  Default: never.
        """
        return False

    @abc.abstractmethod
    def run(self, ctx: StepContext) -> str | None:
        """Do the work; return a one-line result for the report, raise :class:`StepFailed` on failure."""

    def applies_to(self, action: str, scenario: str | None) -> bool:
        return self.action == action and (not self.scenarios or scenario in self.scenarios)

    def __repr__(self) -> str:
        return f"<Step {self.action}:{self.name}>"


def order_steps(steps: Iterable[Step]) -> list[Step]:
    """Order *steps* by ``after``/``before`` constraints, then by ``order`` and name.

    Raises :class:`StepOrderError` for a duplicate name, a constraint naming a
    step that does not exist, or a cycle.
    """
    by_name: dict[str, Step] = {}
    for step in steps:
        if step.name in by_name:
            raise StepOrderError(f"two steps are named {step.name!r} ({by_name[step.name]!r}, {step!r})")
        by_name[step.name] = step
    edges: dict[str, set[str]] = {name: set() for name in by_name}  # name -> names that must follow
    for step in by_name.values():
        for first in step.after:
            if first not in by_name:
                raise StepOrderError(f"step {step.name!r} runs after {first!r}, which no plugin provides")
            edges[first].add(step.name)
        for then in step.before:
            if then not in by_name:
                raise StepOrderError(f"step {step.name!r} runs before {then!r}, which no plugin provides")
            edges[step.name].add(then)
    incoming = {name: 0 for name in by_name}
    for followers in edges.values():
        for name in followers:
            incoming[name] += 1
    ready = [(s.order, s.name) for s in by_name.values() if incoming[s.name] == 0]
    heapq.heapify(ready)
    ordered: list[Step] = []
    while ready:
        _, name = heapq.heappop(ready)
        ordered.append(by_name[name])
        for follower in edges[name]:
            incoming[follower] -= 1
            if incoming[follower] == 0:
                heapq.heappush(ready, (by_name[follower].order, follower))
    if len(ordered) != len(by_name):
        stuck = sorted(n for n, count in incoming.items() if count)
        raise StepOrderError(f"the steps' before/after constraints form a cycle through {', '.join(stuck)}")
    return ordered


def collect_steps(provided: Sequence[Sequence[Step] | None], action: str, scenario: str | None) -> list[Step]:
    """Flatten what the hook returned, keep the steps of *action*/*scenario*, and order them."""
    steps = [s for group in provided for s in (group or ()) if s.applies_to(action, scenario)]
    return order_steps(steps)


def journal_name(action: str, scenario: str | None) -> str:
    """``migrate``, ``rollback``, ``recover-<scenario>``."""
    return f"{action}-{scenario}" if scenario else action


def summarize(outcomes: Mapping[str, str]) -> str:
    """``7 done, 2 already done`` from step name -> outcome."""
    counts: dict[str, int] = {}
    for outcome in outcomes.values():
        counts[outcome] = counts.get(outcome, 0) + 1
    return ", ".join(f"{n} {k.replace('-', ' ')}" for k, n in counts.items())
