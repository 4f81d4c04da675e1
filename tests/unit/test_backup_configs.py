"""Which configuration files a backup holds: from the Compose model, plus what include/extends pull in."""

from __future__ import annotations

from pathlib import Path

from podshift.backup.configs import discover
from podshift.compose.model import load_project


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_included_and_extended_compose_files_are_backed_up(tmp_path: Path) -> None:
    write(
        tmp_path / "compose.yaml",
        "name: refs\n"
        "include:\n"
        "  - stacks/db.yaml\n"
        "  - path: [stacks/cache.yaml]\n"
        "    env_file: stacks/cache.env\n"
        "services:\n"
        "  app:\n"
        "    extends: {file: common/base.yaml, service: base}\n"
        "  local:\n"
        "    extends: {service: app}\n"
        "    env_file:\n"
        "      - local.env\n"
        "      - {path: optional.env, required: false}\n",
    )
    write(tmp_path / "compose.override.yaml", "services:\n  app:\n    environment: [EXTRA=1]\n")
    write(tmp_path / "stacks/db.yaml", "include:\n  - nested/metrics.yaml\nservices:\n  db:\n    image: busybox\n")
    write(tmp_path / "stacks/nested/metrics.yaml", "services:\n  metrics:\n    image: busybox\n")
    write(
        tmp_path / "stacks/cache.yaml",
        "services:\n  cache:\n    image: busybox\n    environment:\n      - PORT=${PORT}\n",
    )
    write(tmp_path / "stacks/cache.env", "PORT=6379\n")
    write(tmp_path / "common/base.yaml", "services:\n  base:\n    image: busybox\n    env_file: [base.env]\n")
    write(tmp_path / "common/base.env", "TOKEN=x\n")
    write(tmp_path / "local.env", "LOCAL=1\n")
    write(tmp_path / "deploy.sh", "#!/bin/sh\n")
    write(tmp_path / "requirements-dev.txt", "pytest\n")
    write(tmp_path / "unrelated.yaml", "services: {}\n")

    project = load_project(tmp_path)
    assert set(project.services) == {"app", "local", "db", "metrics", "cache"}, "Compose itself resolved them"
    found = {str(s.path.relative_to(tmp_path)): s.sensitive for s in discover(project)}
    assert found == {
        "compose.yaml": False,
        "compose.override.yaml": False,
        "stacks/db.yaml": False,
        "stacks/nested/metrics.yaml": False,
        "stacks/cache.yaml": False,
        "stacks/cache.env": True,
        "common/base.yaml": False,
        "common/base.env": True,
        "local.env": True,
        "deploy.sh": False,
        "requirements-dev.txt": False,
    }
