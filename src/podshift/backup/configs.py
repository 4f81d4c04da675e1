"""Which configuration files a project's backup must hold, from its normalized Compose model."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from podshift.compose.model import ComposeProject
from podshift.compose.references import referenced_files

FIXED_NAMES = ("deploy.sh", "teardown.sh", "verify.sh")
SKIP_DIRS = {".git", "__pycache__", ".tox", ".venv"}
SKIP_PREFIXES = (".docker-backup", ".podshift")


@dataclass(frozen=True)
class ConfigSource:
    path: Path
    sensitive: bool
    #: the symlink's target when the file is a symlink (backed up and restored as the link itself)
    link: str = ""


def _walk(root: Path) -> list[Path]:
    """Regular files below *root*, without podshift's own directories; iterative (os.walk recurses on 3.11,
    and a 1,100-level tree must not exhaust the stack); symlinked directories are not followed."""
    found = []
    pending = [str(root)]
    while pending:
        with os.scandir(pending.pop()) as it:
            for entry in it:
                if entry.name.startswith(SKIP_PREFIXES):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    if entry.name not in SKIP_DIRS:
                        pending.append(entry.path)
                elif entry.is_file(follow_symlinks=False):
                    found.append(Path(entry.path))
    return found


def discover(project: ComposeProject) -> list[ConfigSource]:
    """Compose files (with those they include or extend from), .env and env_files, build contexts and
    the compose/ tree, config and secret sources, bind-mounted files, the deploy scripts and requirements files."""
    root = project.project_dir
    files: dict[Path, bool] = {}
    links: dict[Path, str] = {}

    def add(path: Path, sensitive: bool = False) -> None:
        if path.is_symlink():
            # What Compose names is the link (`.env -> real/app.env`): restore must recreate the link,
            # and the file behind it when it belongs to the project.
            if path.is_file():
                links[path] = os.readlink(path)
                files[path] = files.get(path, False) or sensitive
                target = path.resolve()
                if target.is_relative_to(root) and not target.is_symlink():
                    add(target, sensitive)
            return
        if path.is_file():
            files[path] = files.get(path, False) or sensitive

    for f in project.compose_files:
        add(f)
    for f, is_env in referenced_files(project.compose_files, root).items():
        add(f, sensitive=is_env)
    add(root / ".env", sensitive=True)
    for name in FIXED_NAMES:
        add(root / name)
    for req in root.glob("requirements*.txt"):
        add(req)
    trees = {root / "compose"} | {s.build_context for s in project.services.values() if s.build_context}
    for tree in trees:
        if tree.is_dir():
            for f in _walk(tree):
                add(f)
    for service in project.services.values():
        for m in service.mounts:
            if m.type == "bind" and Path(m.source).is_file():
                add(Path(m.source))
    for kind, sensitive in (("configs", False), ("secrets", True)):
        for spec in (project.raw.get(kind) or {}).values():
            if (spec or {}).get("file"):
                add(Path(spec["file"]), sensitive=sensitive)
    return [ConfigSource(p, s, links.get(p, "")) for p, s in sorted(files.items())]


def data_dirs(project: ComposeProject) -> list[Path]:
    """Bind-mounted directories that hold data (not part of the configuration trees)."""
    config_trees = [project.project_dir / "compose"] + [
        s.build_context for s in project.services.values() if s.build_context
    ]
    return [
        src
        for src in project.bind_sources
        if src.is_dir() and not any(src.is_relative_to(t) for t in config_trees if t)
    ]


def backup_name(source: Path, project_dir: Path) -> str:
    """Where a config file lives under config/: relative to the project, or external/<absolute path>."""
    if source.is_relative_to(project_dir):
        return str(source.relative_to(project_dir))
    return "external" + str(source)
