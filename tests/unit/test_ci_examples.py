"""The CI examples in examples/ci/ are valid YAML and run only real podshift commands with real flags."""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from podshift import cli

from ..conftest import REPO

CI = REPO / "examples" / "ci"
EXAMPLES = {"github-actions.yml": "github", "gitlab-ci.yml": "gitlab"}
# GitLab keywords that are not jobs.
GITLAB_GLOBAL = {"stages", "variables", "default", "include", "workflow", "image", "services", "cache"}


def _load(path: Path) -> Any:
    return YAML(typ="safe", pure=True).load(path.read_text())


def _scripts(kind: str, doc: Any) -> Iterator[tuple[str, str]]:
    """(job, shell text) for every script the pipeline runs."""
    if kind == "github":
        for job, body in doc["jobs"].items():
            for step in body["steps"]:
                if "run" in step:
                    yield job, step["run"]
        return
    for job, body in doc.items():
        if job in GITLAB_GLOBAL and job != "default":
            continue
        for key in ("before_script", "script", "after_script"):
            for line in body.get(key, []) if isinstance(body, dict) else []:
                yield job, line


def _variables(kind: str, doc: Any) -> dict[str, str]:
    """The pipeline's own variables (GitHub ``env``, GitLab ``variables``), as a shell would expand them."""
    values = doc.get("env" if kind == "github" else "variables") or {}
    return {k: str(v) for k, v in values.items()}


def podshift_commands(text: str, variables: dict[str, str] | None = None) -> list[list[str]]:
    """Each ``podshift ...`` command in a shell script (continuation lines joined, *variables* expanded)."""
    variables = variables or {}

    def expand(match: re.Match[str]) -> str:
        return variables.get(match.group(1) or match.group(2), "/somewhere")

    joined = re.sub(r"\$\{(\w+)\}|\$(\w+)", expand, re.sub(r"\\\n\s*", " ", text))
    commands = []
    for line in joined.splitlines():
        for part in re.split(r"&&|\|\||;", line):
            words = shlex.split(part, comments=True)
            if words and Path(words[0]).name == "podshift":
                commands.append(words[1:])
    return commands


def _parse(argv: list[str]) -> argparse.Namespace:
    """What ``podshift ARGV`` would run, as podshift's own :func:`podshift.cli.main` splits and parses it."""
    own, pytest_args = argv, []
    if "--" in argv:  # pytest's options follow, for the verbs that run checks
        own, pytest_args = argv[: argv.index("--")], argv[argv.index("--") + 1 :]
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            args = cli.build_parser().parse_args(own)
    except SystemExit:
        pytest.fail(f"`podshift {shlex.join(argv)}` is not a podshift command: {err.getvalue().strip()}")
    if pytest_args and not args.verb_obj.runs_checks:
        pytest.fail(f"`podshift {shlex.join(argv)}`: {args.verb} takes no pytest options")
    return args


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_ci_example_runs_real_podshift_commands(name: str) -> None:
    doc = _load(CI / name)
    variables = _variables(EXAMPLES[name], doc)
    commands = [c for _, text in _scripts(EXAMPLES[name], doc) for c in podshift_commands(text, variables)]
    verbs = {}
    for argv in commands:
        args = _parse(argv)
        verbs[args.verb] = args
    # What the examples are for: a readiness gate that fails on warnings, and a gated rollback drill.
    assert verbs["validate"].fail_on_warnings
    assert verbs["validate"].export_report
    assert verbs["validate"].junit
    assert verbs["drill"].max_downtime == 30


def test_ci_examples_keep_the_reports_as_artefacts() -> None:
    github = _load(CI / "github-actions.yml")
    uploads = [s for job in github["jobs"].values() for s in job["steps"] if "upload-artifact" in s.get("uses", "")]
    assert len(uploads) == 2
    assert all(u["with"]["path"] == "reports/" and u["if"] == "always()" for u in uploads)
    gitlab = _load(CI / "gitlab-ci.yml")
    for job in ("readiness", "rollback-drill"):
        assert gitlab[job]["artifacts"]["when"] == "always"
        assert "reports/" in gitlab[job]["artifacts"]["paths"]
    # The JUnit files GitLab reads are the ones podshift writes (readiness-junit.xml, drill.xml).
    assert gitlab["readiness"]["artifacts"]["reports"]["junit"] == "reports/readiness-junit.xml"
    assert gitlab["rollback-drill"]["artifacts"]["reports"]["junit"] == "reports/drill.xml"


def test_the_command_finder_sees_what_a_shell_would_run() -> None:
    text = 'echo x && podshift validate --project-dir "$P" \\\n  --fail-on-warnings  # gate\n.venv/bin/podshift drill'
    assert podshift_commands(text, {"P": "/p"}) == [
        ["validate", "--project-dir", "/p", "--fail-on-warnings"],
        ["drill"],
    ]


def test_a_made_up_flag_fails_the_check() -> None:
    with pytest.raises(pytest.fail.Exception, match="not a podshift command"):
        _parse(["validate", "--fail-on-warning-s"])
    with pytest.raises(pytest.fail.Exception, match="takes no pytest options"):
        _parse(["drill", "--", "-x"])
    assert _parse(["validate", "--junit", "--", "-n", "2"]).junit
