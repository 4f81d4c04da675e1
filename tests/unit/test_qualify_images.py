"""qualify-images changes the image lines and nothing else, over ten awesome-compose style files."""

from __future__ import annotations

import difflib
import shutil
from pathlib import Path

import pytest

from podshift.compose.model import load_project
from podshift.registries import is_qualified
from podshift.remediations.images import qualified, rewrite_images

DATA = Path(__file__).resolve().parents[1] / "data" / "awesome-compose"
PROJECTS = sorted(p.name for p in DATA.iterdir() if p.is_dir())


def test_there_are_ten_projects() -> None:
    assert len(PROJECTS) == 10


@pytest.mark.parametrize("name", PROJECTS)
def test_only_the_image_lines_change(name: str, tmp_path: Path) -> None:
    project_dir = tmp_path / name
    shutil.copytree(DATA / name, project_dir)
    project = load_project(project_dir)  # the real `docker compose config`
    wanted = {
        s.name: s.image
        for s in project.services.values()
        if s.image and s.build_context is None and not is_qualified(s.image)
    }
    assert wanted, "each sample has something to qualify"
    compose = project.compose_files[0]
    before = compose.read_bytes()
    after = rewrite_images(before, wanted)
    assert after is not None

    old, new = before.decode().splitlines(keepends=True), after.decode().splitlines(keepends=True)
    assert len(old) == len(new), "no line added or removed"
    changed = [i for i, (a, b) in enumerate(zip(old, new, strict=True)) if a != b]
    diff = "".join(difflib.unified_diff(old, new, n=0))
    # Exactly the lines that hold a wanted image changed, and each only by its image name.
    image_lines = {
        i
        for i, line in enumerate(old)
        if any(f"image: {q}{img}" in line for img in wanted.values() for q in ("", '"', "'"))
    }
    assert set(changed) == image_lines, diff
    for i in changed:
        stripped = new[i]
        for image in wanted.values():
            stripped = stripped.replace(qualified(image), image)
        assert stripped == old[i], diff
    # And Compose reads the qualified names back.
    compose.write_bytes(after)
    reread = load_project(project_dir)
    for service, image in wanted.items():
        assert reread.services[service].image == qualified(image)
