"""``podshift``: the command line.

Every verb is one small module in :mod:`podshift.verbs` that defines ``VERB``
(a :class:`Verb`: its name, options, run function and the example that ends
its ``--help``).  The command line finds the verbs there, so adding a verb is
adding a file; nothing here needs to change.  A verb that runs checks calls
:func:`run_checks_session` and is a few lines long.

The target project is chosen as ``docker compose`` chooses it: the current
directory, ``-f/--file`` (repeatable), ``COMPOSE_FILE``, ``-p/--project-name``,
``COMPOSE_PROJECT_NAME``; also ``PROJECT_DIR``, ``--project-dir`` and
``PODSHIFT_PROJECT_DIR``.  Bad input is one line on stderr and exit 2, never
a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import json
import os
import pkgutil
import pwd
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from podshift import __version__
from podshift.compose.model import ComposeProject, files_from_environment, find_project_dir, load_project
from podshift.engines import ROOTLESS_USER_ENV
from podshift.errors import PodshiftError, ProjectError
from podshift.paths import reports_dir

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNDECIDED = 0, 1, 2, 3
EXIT_CODES = """\
exit codes:
  0  success; validate: READY or READY WITH WARNINGS
  1  the action failed; validate: NOT READY (READY WITH WARNINGS too with --fail-on-warnings)
  2  usage error: a bad option, no compose file, an unknown user, a bad ini value
  3  could not decide: the check session itself broke (internal error, interrupted, no checks)

environment: PODSHIFT_PROJECT_DIR, COMPOSE_FILE, COMPOSE_PROJECT_NAME, PODSHIFT_ROOTLESS_USER,
PODSHIFT_FIXES_JOURNAL, PODSHIFT_STATE_DIR, DOCKER_HOST, CONTAINER_HOST, NO_COLOR"""
PROJECT_DIR_ENV = "PODSHIFT_PROJECT_DIR"
#: ``--format json`` documents carry this; a change that breaks readers bumps the number.
JSON_SCHEMA_VERSION = 1


class UsageError(PodshiftError):
    """The command line itself is wrong (exit 2)."""


@dataclass(frozen=True)
class Verb:
    """One ``podshift`` verb.  Define ``VERB = Verb(...)`` in a module of :mod:`podshift.verbs`.

    ``targets_project``: the verb takes the project options (``PROJECT_DIR``,
    ``--project-dir``, ``-f``, ``-p``, ``--reports-dir``, ``--rootless-user``) and
    gets the loaded project as ``args.project``.  ``runs_checks``: it also takes
    the report options (``--html``, ``--junit``, ``--json``, ``--format``,
    ``--export-report``, ``--detailed``, ``--fail-on-warnings``) and pytest
    options after ``--``, which :func:`run_checks_session` uses.
    """

    name: str
    help: str
    example: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    order: int = 100
    targets_project: bool = True
    runs_checks: bool = False
    #: how the verb loads its project (default :func:`target_project`); rollback also finds a backed-up one
    load: Callable[[argparse.Namespace], ComposeProject] | None = None


# -- the parser ---------------------------------------------------------------------------------
def verbs() -> list[Verb]:
    """Every verb in :mod:`podshift.verbs`, in ``order``."""
    from podshift import verbs as package

    found = []
    for info in pkgutil.iter_modules(package.__path__):
        if not info.name.startswith("_"):
            verb = getattr(importlib.import_module(f"{package.__name__}.{info.name}"), "VERB", None)
            if isinstance(verb, Verb):
                found.append(verb)
    return sorted(found, key=lambda v: (v.order, v.name))


def _project_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("the project (as docker compose finds it)")
    group.add_argument(
        "project_dir_arg", nargs="?", metavar="PROJECT_DIR", help="the Compose project (default: the current directory)"
    )
    group.add_argument("--project-dir", metavar="DIR", help=f"the same as PROJECT_DIR (env {PROJECT_DIR_ENV})")
    group.add_argument(
        "-f",
        "--file",
        dest="compose_files",
        metavar="FILE",
        action="append",
        default=[],
        help="a compose file, as docker compose -f (repeatable; default: COMPOSE_FILE, else compose.yaml ...)",
    )
    group.add_argument("-p", "--project-name", metavar="NAME", help="as docker compose -p (env COMPOSE_PROJECT_NAME)")
    group.add_argument("--reports-dir", metavar="DIR", help="where reports and logs go (default: ./reports)")
    group.add_argument(
        "--rootless-user",
        metavar="USER",
        help=f"as root: the user whose rootless Podman to use (env {ROOTLESS_USER_ENV})",
    )


def _report_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("reports")
    group.add_argument("--format", choices=["text", "json"], default="text", help="json: one document on stdout")
    group.add_argument(
        "--html",
        action="store_true",
        help="also write pytest-html's test table (podshift's own readiness.html is always written)",
    )
    group.add_argument("--junit", action="store_true", help="also write a JUnit XML report")
    group.add_argument("--json", action="store_true", help="also write pytest-json-report's JSON report")
    group.add_argument("--export-report", action="store_true", help="write the text report")
    group.add_argument("--detailed", action="store_true", help="show the evidence of every check, passed ones too")
    group.add_argument("--fail-on-warnings", action="store_true", help="exit 1 on READY WITH WARNINGS")
    checks = parser.add_argument_group("which checks")
    checks.add_argument("--check", metavar="ID", action="append", default=[], help="run only this check (repeatable)")
    checks.add_argument(
        "--skip-check", metavar="ID", action="append", default=[], help="leave this check out (repeatable)"
    )
    checks.add_argument("--waivers", metavar="FILE", help="the waiver file (default: PROJECT/podshift-waivers.yaml)")


def build_parser() -> argparse.ArgumentParser:
    """The ``podshift`` parser: one subparser per verb; abbreviations are off everywhere."""
    parser = argparse.ArgumentParser(
        prog="podshift",
        description="Move a Docker Compose application to (rootless) Podman, and back.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    parser.add_argument("--version", action="version", version=f"podshift {__version__}")
    subparsers = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    for verb in verbs():
        sub = subparsers.add_parser(
            verb.name,
            help=verb.help,
            description=verb.help,
            epilog=f"{EXIT_CODES}\n\nexample:\n  {verb.example}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
            allow_abbrev=False,
        )
        sub.set_defaults(verb_obj=verb)
        sub.add_argument("-q", "--quiet", action="store_true", help="print the verdict (or the result) line only")
        sub.add_argument("-v", "--verbose", action="count", default=0, help="more detail (pytest's header, -vv ...)")
        if verb.targets_project:
            _project_options(sub)
        if verb.runs_checks:
            _report_options(sub)
        verb.add_arguments(sub)
    return parser


# -- resolving what the command line names --------------------------------------------------------
def project_dir_of(args: argparse.Namespace) -> Path:
    """PROJECT_DIR or --project-dir (not two different ones), else $PODSHIFT_PROJECT_DIR, else as Compose.

    As ``docker compose``: with ``-f`` and no directory, the first file's
    directory; otherwise the current directory, or the nearest parent with a compose file.
    """
    given = {Path(d).expanduser().resolve() for d in (args.project_dir, getattr(args, "project_dir_arg", None)) if d}
    if len(given) > 1:
        raise UsageError("name the project once: PROJECT_DIR and --project-dir differ")
    if given:
        return given.pop()
    if os.environ.get(PROJECT_DIR_ENV):
        return Path(os.environ[PROJECT_DIR_ENV]).expanduser().resolve()
    files = getattr(args, "compose_files", None)
    if files:
        return Path(files[0]).expanduser().resolve().parent
    if files_from_environment(os.environ):
        return Path.cwd()
    return find_project_dir(Path.cwd())


def target_project(args: argparse.Namespace) -> ComposeProject:
    """Load the project the command line names (a :class:`ProjectError` is a usage error)."""
    files = [str(Path(f).expanduser().resolve()) for f in args.compose_files]
    return load_project(project_dir_of(args), compose_files=files, project_name=args.project_name)


def use_rootless_user(user: str | None) -> None:
    """Check ``--rootless-user`` (else ``$PODSHIFT_ROOTLESS_USER``) names a user, and hand it to the session."""
    chosen = user or os.environ.get(ROOTLESS_USER_ENV)
    if not chosen:
        return
    try:
        pwd.getpwnam(chosen)
    except KeyError:
        source = "--rootless-user" if user else ROOTLESS_USER_ENV
        raise UsageError(f"{source}: there is no user {chosen!r} on this host") from None
    if os.geteuid() != 0 and chosen != pwd.getpwuid(os.geteuid()).pw_name:
        raise UsageError(f"--rootless-user {chosen}: only root can act for another user; run podshift as {chosen}")
    os.environ[ROOTLESS_USER_ENV] = chosen  # the checks and the engines read it (podshift.engines)


def report_dir(args: argparse.Namespace) -> Path:
    """``--reports-dir`` or ``./reports``."""
    return reports_dir(getattr(args, "reports_dir", None))


def print_json(document: dict[str, Any]) -> None:
    """Print a ``--format json`` document (``schema`` and ``podshift`` keys first)."""
    head = {"schema": JSON_SCHEMA_VERSION, "podshift": __version__}
    print(json.dumps({**head, **document}, indent=2, sort_keys=False))


# -- running the checks ---------------------------------------------------------------------------
def checks_dir() -> Path:
    """The installed ``podshift.checks`` package (a checkout's ``checks/`` when installed editable)."""
    # Imported by name: the package lives at the repository's top level (checks/) and is
    # mapped into podshift by the build (pyproject's package-dir), which mypy cannot follow.
    package = importlib.import_module("podshift.checks")
    return Path(next(iter(package.__path__)))


class _SessionProbe:
    """Hands the CLI the readiness results of an in-process pytest session, and lists its reports."""

    def __init__(self, reports: Path, print_reports: bool) -> None:
        self.readiness: Any = None
        self.steps: Any = None
        self.collected: list[tuple[str, str]] = []
        self.reports = reports
        self.before = _snapshot(reports)
        self.written: list[Path] = []
        self.print_reports = print_reports

    def pytest_configure(self, config: pytest.Config) -> None:
        self.readiness = config.pluginmanager.get_plugin("podshift-readiness")
        self.steps = config.pluginmanager.get_plugin("podshift-steps")  # None unless an action session

    @pytest.hookimpl(tryfirst=True)
    def pytest_unconfigure(self, config: pytest.Config) -> None:
        # Every report is written by now (at session finish); the verdict still comes last.
        self.written = written_since(self.reports, self.before)
        tr = config.pluginmanager.get_plugin("terminalreporter")
        if self.print_reports and tr is not None:
            for path in self.written:
                tr.write_line(f"podshift: report: {path}")

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        from podshift.outcomes import title_of

        self.collected = [(item.nodeid, title_of(item)) for item in session.items]


@contextlib.contextmanager
def _stdout_to(buffer: io.StringIO | None) -> Iterator[None]:
    if buffer is None:
        yield
    else:
        with contextlib.redirect_stdout(buffer):
            yield


def _snapshot(directory: Path) -> dict[Path, int]:
    if not directory.is_dir():
        return {}
    return {p: p.stat().st_mtime_ns for p in directory.rglob("*") if p.is_file() and not p.name.startswith(".")}


def written_since(directory: Path, before: dict[Path, int]) -> list[Path]:
    """Files in *directory* that are new or changed since *before* (:func:`_snapshot`)."""
    return sorted(p for p, mtime in _snapshot(directory).items() if before.get(p) != mtime)


def run_checks_session(
    args: argparse.Namespace,
    *,
    markers: str,
    options: Sequence[str] = (),
    report_stem: str,
    collect_only: bool = False,
) -> int:
    """Run one pytest session over podshift's packaged checks with the options every verb shares.

    *markers*: the ``-m`` expression (``prerequisites``, ``post_migration`` ...).
    *options*: the verb's own pytest options (``--fix-issues``, ``--migrate``,
    ``--recover SCENARIO`` ...).  *report_stem* names the report files:
    ``readiness`` gives ``readiness.html``, ``readiness-junit.xml``,
    ``readiness.json`` in the reports directory.

    From *args* (the common options of a ``runs_checks`` verb): ``args.project``
    (loaded by :func:`main`), ``--reports-dir``, ``-q``/``-v``, ``--format``,
    ``--html``/``--junit``/``--json``, ``--export-report``, ``--detailed``,
    ``--fail-on-warnings`` and the pytest options after ``--``.
    ``--rootless-user`` is already in the environment.  The session runs the
    installed checks (never a checkout's, unless installed editable), ignores
    the current directory's pytest configuration, prints every report written
    at the end, and returns the CLI exit code (0, 1, 2 or 3).

    A verb::

        def _run(args: argparse.Namespace) -> int:
            return run_checks_session(args, markers="post_migration", options=["--migrate"], report_stem="migration")
    """
    project: ComposeProject = args.project
    reports = report_dir(args)
    checks = checks_dir()
    argv = [
        str(checks),
        "-m",
        markers,
        # The session is podshift's, not the current directory's: its pytest.ini or
        # pyproject.toml (a user's own test settings) must not change the checks.
        "-c",
        os.devnull,
        "--rootdir",
        str(checks.parent),
        "--confcutdir",
        str(checks.parent),
        "-p",
        "no:cacheprovider",
        "--strict-markers",
        "--project-dir",
        str(project.project_dir),
        "--reports-dir",
        str(reports),
    ]
    for f in project.compose_files:
        argv += ["--compose-file", str(f)]
    if args.project_name:
        argv += ["--project-name", args.project_name]
    if args.verbose:
        argv += ["-ra"] + ["-v"] * (args.verbose - 1)
    else:  # a readiness tool's output: the checks' own titles and messages, no test-run furniture
        # (-qq also drops pytest's stats line; -q keeps --collect-only's list one check a line.)
        argv += ["-q" if collect_only else "-qq", "--no-header", "-rN", "--tb=no"]
    if os.environ.get("NO_COLOR") or not sys.stdout.isatty():
        argv.append("--color=no")
    for flag in ("export_report", "detailed", "fail_on_warnings"):
        if getattr(args, flag, False):
            argv.append("--" + flag.replace("_", "-"))
    for option in ("check", "skip_check"):  # podshift's pytest options, passed through
        for value in getattr(args, option, None) or ():
            argv += ["--" + option.replace("_", "-"), value]
    if getattr(args, "waivers", None):
        argv += ["--waivers", str(Path(args.waivers).expanduser().resolve())]
    if getattr(args, "html", False):
        # pytest-html's table; podshift's own report is readiness.html, written by every checks session.
        argv += [f"--html={reports / (report_stem + '-table.html')}", "--self-contained-html"]
    if getattr(args, "junit", False):
        argv.append(f"--junitxml={reports / (report_stem + '-junit.xml')}")
    if getattr(args, "json", False):
        argv += ["--json-report", f"--json-report-file={reports / (report_stem + '.json')}"]
    if collect_only:
        argv.append("--collect-only")

    as_json = args.format == "json"
    quiet = args.quiet or as_json
    captured = io.StringIO() if quiet else None
    probe = _SessionProbe(reports, print_reports=not quiet)
    # A private base temp dir: pytest (and xdist's workers) would otherwise share and garbage-collect
    # /tmp/pytest-of-USER with every other pytest run of this user, and warn about their leftovers.
    basetemp = Path(tempfile.mkdtemp(prefix="podshift-session-"))
    try:
        with _stdout_to(captured):
            code = pytest.main([*argv, f"--basetemp={basetemp}", *options, *args.pytest_args], plugins=[probe])
    finally:
        shutil.rmtree(basetemp, ignore_errors=True)
    exit_code = _exit_code(code)
    readiness = probe.readiness
    verdict = readiness.verdict.value if readiness is not None and readiness.verdict is not None else None
    if captured is not None and exit_code == EXIT_UNDECIDED:
        sys.stderr.write(captured.getvalue())  # the session broke: what pytest said is the explanation
    if as_json:
        print_json(
            {
                "project": _project_json(project),
                "verdict": verdict,
                "exit_code": exit_code,
                "counts": readiness.counts() if readiness is not None and readiness.results else {},
                "checks": _checks_json(readiness, probe, collect_only),
                "reports": [str(p) for p in probe.written],
            }
        )
    elif args.quiet and probe.steps is not None and probe.steps.outcomes:
        print(probe.steps.outcome_line())  # an action ends with its own line, not a readiness verdict
    elif args.quiet and verdict is not None:
        print(f"podshift verdict: {verdict}")
    return exit_code


def _exit_code(code: int | pytest.ExitCode) -> int:
    if code in (pytest.ExitCode.OK,):
        return EXIT_OK
    if code == pytest.ExitCode.TESTS_FAILED:
        return EXIT_FAILED
    if code == pytest.ExitCode.USAGE_ERROR:
        return EXIT_USAGE
    return EXIT_UNDECIDED


def _project_json(project: ComposeProject) -> dict[str, Any]:
    return {
        "dir": str(project.project_dir),
        "name": project.name,
        "compose_files": [str(f) for f in project.compose_files],
    }


def _checks_json(readiness: Any, probe: _SessionProbe, collect_only: bool) -> list[dict[str, Any]]:
    if collect_only or readiness is None:
        return [{"id": nodeid, "title": title} for nodeid, title in probe.collected]
    return [
        {
            "id": r.nodeid,
            "check_id": r.check_id,
            "title": r.title,
            "outcome": r.outcome,
            "category": r.category,
            "severity": r.severity,
            "message": r.message,
            "remediation": r.remediation,
            "waiver": r.waiver,
        }
        for r in readiness.results.values()
    ]


# -- main -----------------------------------------------------------------------------------------
def _split_pytest_args(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """``podshift validate -x -- -n 2`` -> (``validate -x``, ``-n 2``)."""
    argv = list(argv)
    if "--" in argv:
        i = argv.index("--")
        return argv[:i], argv[i + 1 :]
    return argv, []


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``podshift`` console script."""
    own, pytest_args = _split_pytest_args(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(own)
    verb: Verb = args.verb_obj
    if pytest_args and not verb.runs_checks:
        parser.error(f"{verb.name} takes no pytest options (after --)")
    args.pytest_args = pytest_args
    try:
        if verb.targets_project:
            use_rootless_user(args.rootless_user)
            args.project = (verb.load or target_project)(args)  # one clear line for a bad project, before any work
        return verb.run(args)
    except (UsageError, ProjectError) as e:  # the user's input: a bad option or a project that is not usable
        print(f"podshift: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except PodshiftError as e:  # the action could not be done (engine down, lock held, disk full ...)
        print(f"podshift: error: {e}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("podshift: interrupted", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    # Through the package's module, so that verbs and this share one Verb class.
    from podshift.cli import main as _main

    sys.exit(_main())
