"""``podshift drill``'s command line: its options, and the run that prints what an operator signs off on.

The verb (:mod:`podshift.verbs.drill`) is these two functions: ``add_arguments(parser)`` and ``run(args)``;
the CLI gives every project verb the project options (``--project-dir``, ``-f``, ``-p``,
``--rootless-user``, ``--reports-dir``) and the loaded project as ``args.project``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from podshift.compose.model import ComposeProject
from podshift.drill import DEFAULT_SUBNET_POOL, run_drill
from podshift.paths import reports_dir
from podshift.runtimes import DockerRuntime, PodmanRuntime

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The drill's own options (the project options come from the CLI)."""
    parser.add_argument("--max-downtime", type=float, metavar="S", help="fail when the stack was down longer")
    parser.add_argument("--keep", action="store_true", help="leave the clone for inspection")
    parser.add_argument(
        "--subnet-pool", metavar="CIDR", help=f"carve the clone's subnets from here (default {DEFAULT_SUBNET_POOL})"
    )
    parser.add_argument("--ports", metavar="LO-HI", help="choose the clone's published ports from this range")
    parser.add_argument("--clone-prefix", default="drill-", help="the clone's compose project name starts so")


def _port_range(text: str | None) -> range | None:
    if not text:
        return None
    lo, _, hi = text.partition("-")
    if not (lo.isdigit() and hi.isdigit() and 0 < int(lo) <= int(hi) < 65536):
        raise ValueError(text)
    return range(int(lo), int(hi) + 1)


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def run(args: argparse.Namespace) -> int:
    """Run the drill as ``args`` say; exit 0 only when every part of it held."""
    project: ComposeProject = args.project
    try:
        ports = _port_range(args.ports)
    except ValueError:
        print(f"podshift: error: --ports {args.ports}: give a range LO-HI", file=sys.stderr)
        return EXIT_USAGE
    reports = reports_dir(getattr(args, "reports_dir", None))
    reports.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(reports / "drill.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    logging.getLogger("podshift").addHandler(handler)
    logging.getLogger("podshift").setLevel(logging.INFO)
    user = getattr(args, "rootless_user", None)
    docker = DockerRuntime()
    # The Podman the clone migrates to: cleaned up afterwards, whatever the rollback left there.
    podman = PodmanRuntime.for_user(user if os.geteuid() == 0 else None) if user else PodmanRuntime.default()
    try:
        docker.ping()
        podman.ping()
        result = run_drill(
            project, docker, max_downtime=args.max_downtime, keep=args.keep, reports_dir=reports,
            rootless_user=user, subnet_pool=args.subnet_pool or DEFAULT_SUBNET_POOL,
            port_candidates=ports, podman=podman, prefix=args.clone_prefix,
        )  # fmt: skip
    finally:
        docker.close()
        podman.close()
        logging.getLogger("podshift").removeHandler(handler)
        handler.close()
    print(
        f"podshift drill: migration downtime {_seconds(result.migration_downtime)}, rollback downtime "
        f"{_seconds(result.rollback_downtime)}, total rollback time {_seconds(result.rollback_seconds)}"
    )
    for step in result.steps:
        if not step.passed:
            print(f"podshift drill: {step.name} failed (exit {step.rc}); its last lines:")
            print("  " + step.tail.replace("\n", "\n  "))
    for line in result.byte_differences:
        print(f"podshift drill: not back: {line}")
    print(f"podshift drill: reports in {reports} (drill.json, drill.xml, drill.html)")
    failures = result.failures()
    print("podshift drill: PASSED" if not failures else f"podshift drill: FAILED: {'; '.join(failures)}")
    return EXIT_OK if not failures else EXIT_FAILED
