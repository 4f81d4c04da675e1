"""A system-scope plan says what it means for the host's security, always."""

from __future__ import annotations

import ast
from pathlib import Path

from podshift.remediation import CommandStep, Plan


def test_a_system_plan_renders_its_security_effect() -> None:
    plan = Plan(
        "x", "system", "do it", commands=(CommandStep(("true",)),), security_effect="every user may then bind port 80"
    )
    assert "security effect: every user may then bind port 80" in plan.render()


def test_a_system_plan_without_one_says_it_is_not_stated() -> None:
    plan = Plan("x", "system", "do it", commands=(CommandStep(("true",)),))
    assert "security effect: not stated by this fix" in plan.render()
    assert "security effect" not in Plan("x", "project", "do it", commands=(CommandStep(("true",)),)).render()


def test_every_podshift_system_fix_states_its_effect() -> None:
    """Each Plan of podshift's own fixes that may change the system passes ``security_effect=``.

    A Plan whose scope is provably user or project (a literal, or ``self.scope`` of a
    fix class declared so) is exempt; any other scope (a variable) needs the effect.
    """
    import podshift.remediations as remediations

    checked = 0
    for path in sorted(Path(remediations.__file__).parent.glob("*.py")):
        for cls in ast.walk(ast.parse(path.read_text())):
            if not isinstance(cls, ast.ClassDef):
                continue
            declared = next(
                (
                    n.value.value
                    for n in cls.body
                    if isinstance(n, ast.Assign)
                    and any(getattr(t, "id", None) == "scope" for t in n.targets)
                    and isinstance(n.value, ast.Constant)
                ),
                None,
            )
            for node in ast.walk(cls):
                if not (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Plan"):
                    continue
                keywords = {k.arg for k in node.keywords}
                if not keywords & {"files", "commands"}:
                    continue  # "nothing to do"
                checked += 1
                scope = node.args[1] if len(node.args) > 1 else None
                if isinstance(scope, ast.Constant):
                    value = scope.value
                elif isinstance(scope, ast.Attribute) and scope.attr == "scope":
                    value = declared
                else:
                    value = None  # decided at run time: may be system
                if value not in ("user", "project"):
                    assert "security_effect" in keywords, f"{path.name}:{node.lineno}: no security_effect"
    assert checked >= 8
