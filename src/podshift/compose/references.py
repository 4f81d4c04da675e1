"""The files a project's Compose files name: ``include``, ``extends`` and ``env_file``.

``docker compose config`` merges included files and extended services into
its output, and folds env files into ``environment``, keeping no record of
where any of it came from; a backup that took only the files named on the
command line would miss them.  The references are read from each file as
YAML (ruamel.yaml, safe mode) and followed recursively; the model itself
still comes from Compose.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

log = logging.getLogger("podshift.compose")


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def _env_files(value: Any) -> list[str]:
    """A service's env_file: a path, a list of paths, or a list of {path, required}."""
    items = value if isinstance(value, list) else [value]
    return [p for item in items for p in _strings(item.get("path") if isinstance(item, dict) else item)]


def _references(document: Any) -> Iterator[tuple[str, bool, bool]]:
    """(path as written, is it an env file, relative to the file itself) for every file *document* names.

    include and extends paths are relative to the file that names them; a
    service's env_file is relative to the project directory (which, for an
    included or extended file, is that file's own directory).
    """
    if not isinstance(document, dict):
        return
    for item in document.get("include") or ():
        if isinstance(item, str):
            yield item, False, True
        elif isinstance(item, dict):
            yield from ((p, False, True) for p in _strings(item.get("path")))
            yield from ((p, True, True) for p in _strings(item.get("env_file")))
    for service in (document.get("services") or {}).values():
        if not isinstance(service, dict):
            continue
        extends = service.get("extends")
        if isinstance(extends, dict) and isinstance(extends.get("file"), str):
            yield extends["file"], False, True
        yield from ((p, True, False) for p in _env_files(service.get("env_file")))


def referenced_files(compose_files: Iterable[Path], project_dir: Path) -> dict[Path, bool]:
    """Every file reachable from *compose_files* through include/extends/env_file: {path: is an env file}.

    Paths are resolved as Compose resolves them (see :func:`_references`).
    A path with ``$`` interpolation is left out (and logged): its value
    depends on an environment this function does not have.
    """
    yaml = YAML(typ="safe", pure=True)
    found: dict[Path, bool] = {}
    pending = [(Path(f), project_dir) for f in compose_files]
    seen: set[Path] = set()
    while pending:
        current, current_project = pending.pop()
        if current in seen or not current.is_file():
            continue
        seen.add(current)
        try:
            document = yaml.load(current.read_text())
        except (OSError, YAMLError, UnicodeDecodeError) as e:
            log.warning("cannot read %s for include/extends: %s", current, e)
            continue
        for written, is_env, own_relative in _references(document):
            if "$" in written:
                log.warning("%s names %r with interpolation: not followed", current, written)
                continue
            path = ((current.parent if own_relative else current_project) / written).resolve()
            found[path] = found.get(path, False) or is_env
            if not is_env:
                pending.append((path, path.parent))
    return found
