"""``podshift diagnose``: the same as ``podshift recover diagnose``; changes nothing."""

from __future__ import annotations

import argparse

from podshift.cli import Verb
from podshift.verbs.recover import add_recovery_arguments, run_scenario


def _run(args: argparse.Namespace) -> int:
    return run_scenario(args, "diagnose")


VERB = Verb(
    name="diagnose",
    help="where the stack stands between Docker and Podman, and the recovery command for each problem",
    example="cd ~/my-app && podshift diagnose",
    add_arguments=add_recovery_arguments,
    run=_run,
    order=41,
    runs_checks=True,
)
