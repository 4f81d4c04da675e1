"""``podshift backup``: the project's configuration (and with --include-data its data) to ``.docker-backup/``."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from podshift.cli import EXIT_FAILED, EXIT_OK, UsageError, Verb, print_json, report_dir
from podshift.progress import human_size


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--include-data", action="store_true", help="also the named volumes and bind-mounted data")
    parser.add_argument("--force", action="store_true", help="replace an existing backup (after the new one verifies)")
    parser.add_argument("--verify-only", action="store_true", help="list what would be backed up; write nothing")
    parser.add_argument("--verify", action="store_true", help="check an existing backup against its manifest")
    parser.add_argument("--engine", choices=["docker", "podman"], default="docker", help="where the volumes are")
    parser.add_argument(
        "--allow-fewer-volumes",
        action="store_true",
        help="accept a backup holding fewer volumes than the compose model declares or than the one it replaces",
    )
    parser.add_argument(
        "--trust-backup",
        action="store_true",
        help="with --verify: accept a backup whose signature cannot be checked here (another host, or a new key)",
    )
    parser.add_argument(
        "--format", choices=["text", "json"], default="text", help="with --verify-only/--verify: json on stdout"
    )


def _log_to(path: Path) -> None:
    """Every action leaves a readable log in the reports directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    root = logging.getLogger("podshift")
    root.setLevel(logging.INFO)
    root.addHandler(handler)


def _run(args: argparse.Namespace) -> int:
    from podshift.backup.store import BackupStore
    from podshift.engines import make_runtime
    from podshift.locking import project_lock
    from podshift.progress import TerminalProgress

    project = args.project
    store = BackupStore(project.project_dir)
    log_path = report_dir(args) / "backup.log"
    _log_to(log_path)
    as_json = args.format == "json"
    if as_json and not (args.verify or args.verify_only):
        raise UsageError("--format json goes with --verify-only or --verify")
    if args.verify:
        with project_lock(project.project_dir, "backup --verify"):
            problems = store.verify(trust_backup=args.trust_backup)
        if as_json:
            print_json({"backup": str(store.path), "verified": not problems, "problems": problems})
        else:
            for p in problems if not args.quiet else ():
                print(f"podshift: backup: {p}")
            print(f"podshift: backup {store.path}: {'FAILED verification' if problems else 'verified'}")
        return EXIT_FAILED if problems else EXIT_OK
    # Only data needs the engine: a configuration backup works with the engine down.
    runtime = make_runtime(args.engine)
    try:
        if args.include_data:
            runtime.ping()
        if args.verify_only:
            items = store.plan(project, runtime if args.include_data else None, args.include_data)
            total = sum(i.size for i in items)
            if as_json:
                print_json(
                    {
                        "project": {"dir": str(project.project_dir), "name": project.name},
                        "backup": str(store.path),
                        "items": [
                            {"kind": i.kind, "name": i.name, "size": i.size, "sensitive": i.sensitive} for i in items
                        ],
                        "total_size": total,
                    }
                )
                return EXIT_OK
            for item in items if not args.quiet else ():
                flag = "  (sensitive)" if item.sensitive else ""
                print(f"{item.kind:7} {human_size(item.size):>10}  {item.name}{flag}")
            print(
                f"podshift: would back up {len(items)} item(s), {human_size(total)}, to {store.path}; "
                "nothing was written"
            )
            return EXIT_OK
        progress = TerminalProgress(enabled=False if args.quiet else None)
        with project_lock(project.project_dir, "backup"):
            manifest = store.create(
                project,
                runtime if args.include_data else None,
                include_data=args.include_data,
                force=args.force,
                progress=progress,
                allow_fewer_volumes=args.allow_fewer_volumes,
            )
        progress.finish()
    finally:
        runtime.close()
    sensitive = [c.source for c in manifest.config if c.sensitive]
    print(f"podshift: backup written and verified: {store.path}")
    if not args.quiet:
        data = sum(a.size for a in manifest.archives)
        print(
            f"  {len(manifest.config)} configuration file(s), {len(manifest.archives)} archive(s), "
            f"{human_size(data)} of data"
        )
        if sensitive:
            print(f"  sensitive files (secrets, .env): {', '.join(sensitive)}")
        print(f"podshift: log: {log_path}")
    return EXIT_OK


VERB = Verb(
    name="backup",
    help="back up the project to <project>/.docker-backup/ (configuration; --include-data: volumes too)",
    example="cd ~/my-app && podshift backup --include-data",
    add_arguments=_arguments,
    run=_run,
    order=20,
)
