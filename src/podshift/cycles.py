"""Migrate -> rollback cycles: when an action starts a new cycle, the journals of the last one are kept aside.

A project can go Docker -> Podman -> Docker -> Podman ...  Each action's journal
(``<project>/.podshift/<action>.json``) describes one cycle; a finished journal
run again is "nothing to do".  So the start of a new cycle must put the old
journals aside (``<action>-<timestamp>.json``), or the new cycle's steps would
be taken as already done (the rollback's snapshot first of all):

- ``migrate`` starting after a finished rollback: the rollback journal, and the
  migrate journal that rollback undid, are archived; the migration starts afresh
  and the next rollback does too.
- any action whose journal is finished and one of whose steps says the host is in
  a new cycle (:meth:`Step.starts_new_cycle`: the rollback's stop-podman step sees
  the project running on Podman again, e.g. moved there by hand).

This runs when a session starts, before any step, never in a dry run: a step's
``done()`` stays a question without side effects.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from podshift.steps import Step, StepContext, StepJournal

#: action -> the action whose finished journal ends the previous cycle.
NEW_CYCLE_AFTER = {"migrate": "rollback"}


def begin_cycle(ctx: StepContext, steps: Sequence[Step]) -> list[Path]:
    """Archive the journals of a previous cycle (see the module's doc); returns where they went."""
    kept: list[Path] = []
    previous = NEW_CYCLE_AFTER.get(ctx.action)
    if previous is not None:
        other = StepJournal.open(ctx.project.project_dir, previous)
        ended = other.finished_at()
        if ended is not None:
            # This action's own journal is the previous cycle's when nothing of it happened since that
            # cycle ended (a migrate resumed after a newer failure keeps its journal).
            if ctx.journal.exists() and ctx.journal.last_activity() <= ended:
                _archive(ctx, ctx.journal, kept)
            _archive(ctx, other, kept)
    if ctx.journal.finished() and any(step.starts_new_cycle(ctx) for step in steps):
        _archive(ctx, ctx.journal, kept)
    return kept


def _archive(ctx: StepContext, journal: StepJournal, kept: list[Path]) -> None:
    path = journal.archive()
    if path is not None:
        ctx.log.info("a new %s cycle: the previous %s journal is kept as %s", ctx.action, journal.name, path)
        kept.append(path)
