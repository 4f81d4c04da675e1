"""Recovery steps apply podshift's existing fixes (``pytest_podshift_fixes``), never copies of them.

A fix applied by a scenario is planned and journaled exactly as ``--fix-issues``
does it, in the same fixes journal, so ``podshift fixes revert`` undoes it.
"""

from __future__ import annotations

from podshift.journal import open_journal
from podshift.remediation import Fix, FixContext, FixFailed, FixRefused, Plan, apply_plan, may_apply
from podshift.steps import StepContext, StepFailed


def installed_fix(ctx: StepContext, name: str) -> Fix:
    """The fix called *name* among those the installed plugins provide (the step fails when there is none)."""
    for provided in ctx.config.hook.pytest_podshift_fixes(config=ctx.config):
        for fix in provided or ():
            if fix.name == name:
                return fix  # type: ignore[no-any-return]
    raise StepFailed(ctx.step, f"no fix named {name!r} is installed")


def plan_fix(ctx: StepContext, name: str) -> Plan:
    """The plan of the installed fix *name* for this project and the target Podman's user."""
    fix = installed_fix(ctx, name)
    scenario = ctx.scenario or ctx.action
    try:
        return fix.plan(FixContext(ctx.config, ctx.project, ctx.podman_user, check=f"recover {scenario}"))
    except FixRefused as e:
        raise StepFailed(ctx.step, f"fix {name} refused: {e.reason}") from e


def apply_fix(ctx: StepContext, name: str) -> str:
    """Plan and apply the installed fix *name* as ``--fix-issues`` does (journaled); its summary, or why not.

    A system-scope fix needs ``--allow-system-changes``: without it the step
    fails naming the exact plan it would have run.
    """
    plan = plan_fix(ctx, name)
    if plan.empty:
        return f"{name}: nothing to change"
    refusal = may_apply(plan, bool(ctx.config.getoption("podshift_allow_system_changes", False)))
    if refusal is not None:
        raise StepFailed(ctx.step, f"fix {name} not applied: {refusal}; it would run: {plan.render()}")
    try:
        entry = apply_plan(plan, open_journal(), f"recover {ctx.scenario or ctx.action}", ctx.project.project_dir)
    except FixFailed as e:
        raise StepFailed(ctx.step, f"{e} (journaled: `podshift fixes revert` undoes what was done)") from e
    ctx.record("changed", True)
    return f"{name} applied (fixes journal {entry.id}): {plan.summary}"
