"""`podshift fixes revert` never throws away an edit the user made after the fix."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from .conftest import check, run_checks, write_compose

FIX = ("--fix-issues",)


def fixes_revert(env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "podshift.cli", "fixes", "revert", *extra],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.fixture
def env(shared_dir: Path) -> dict[str, str]:
    """A private fixes journal, and no search registries (so qualify-images has work to do)."""
    registries = shared_dir / "registries.conf"
    registries.write_text("unqualified-search-registries = []\n")
    return {
        "PODSHIFT_FIXES_JOURNAL": str(shared_dir / "journal.json"),
        "CONTAINERS_REGISTRIES_CONF": str(registries),
    }


def test_revert_refuses_a_file_edited_since_the_fix_unless_forced(project_copy: Path, env: dict[str, str]) -> None:
    image = f"i15-nowhere-{uuid.uuid4().hex[:6]}:1"
    write_compose(project_copy, f"services:\n  app:\n    image: {image}\n")
    compose = project_copy / "compose.yaml"
    original = compose.read_bytes()
    fixed = run_checks(project_copy, "test_compose.py::test_unqualified_images_can_be_resolved", env=env, args=FIX)
    assert check(fixed, "test_unqualified_images_can_be_resolved")["outcome"] == "fixed"
    # The user goes on editing the fixed file.
    edited = compose.read_bytes() + b"    restart: always\n"
    compose.write_bytes(edited)

    refused = fixes_revert(env)
    assert refused.returncode == 1
    assert f"changed since podshift's fix wrote it: {compose}" in refused.stderr
    assert "--force" in refused.stderr
    assert compose.read_bytes() == edited, "the user's edit survives a refused revert"

    forced = fixes_revert(env, "--force")
    assert forced.returncode == 0, forced.stderr
    assert compose.read_bytes() == original
    kept = list(project_copy.glob("compose.yaml.podshift-yours-*"))
    assert len(kept) == 1
    assert kept[0].read_bytes() == edited
    assert str(kept[0]) in forced.stdout


def test_revert_of_an_untouched_fix_needs_no_force(project_copy: Path, env: dict[str, str]) -> None:
    write_compose(project_copy, f"services:\n  app:\n    image: i15-nowhere-{uuid.uuid4().hex[:6]}:1\n")
    compose = project_copy / "compose.yaml"
    original = compose.read_bytes()
    run_checks(project_copy, "test_compose.py::test_unqualified_images_can_be_resolved", env=env, args=FIX)
    assert compose.read_bytes() != original
    done = fixes_revert(env)
    assert done.returncode == 0, done.stderr
    assert compose.read_bytes() == original
    assert not list(project_copy.glob("*.podshift-yours-*"))
