"""podman: the stack runs under the target Podman, healthy, on the images carried over from Docker."""

from __future__ import annotations

import pytest

from podshift.compose.model import ComposeProject
from podshift.migration.images import bare_id
from podshift.runtimes import PodmanRuntime
from podshift.stack_health import service_problems
from podshift.steps import StepJournal

pytestmark = [pytest.mark.post_migration, pytest.mark.category("podman")]


@pytest.mark.severity("critical")
@pytest.mark.check_id("postmigration.services-healthy")
def test_every_service_runs_healthy_under_podman(
    migrated: ComposeProject, target_podman: PodmanRuntime, evidence
) -> None:
    """Every service of the project is running (and healthy, where it has a healthcheck) under Podman."""
    problems = service_problems(target_podman, migrated, image_healthchecks=False)
    evidence(
        "containers",
        ", ".join(f"{c.name}={c.status}/{c.health or '-'}" for c in target_podman.project_containers(migrated.name)),
    )
    assert not problems, (
        f"not running healthy under {target_podman.label}: {'; '.join(problems)} — "
        "see `podman logs <container>`, then `podshift recover failed-startup`"
    )


@pytest.mark.severity("critical")
@pytest.mark.check_id("postmigration.images-carried-over")
def test_containers_run_the_images_carried_over(
    migrated: ComposeProject, target_podman: PodmanRuntime, migrate_journal: StepJournal, evidence
) -> None:
    """The containers run the very images Docker had (ids compared with what the migration carried)."""
    carried = {bare_id(i) for i in (migrate_journal.data("images").get("image_ids") or {}).values()}
    assert carried, "the migration journal records no carried images (did the images step run?)"
    wrong = []
    for c in target_podman.project_containers(migrated.name):
        image_id = bare_id(c.image)
        evidence(c.name, image_id[:12])
        if image_id not in carried:
            wrong.append(f"{c.name} runs {image_id[:12]}")
    assert not wrong, (
        f"{'; '.join(wrong)}, not an image carried over from Docker ({', '.join(sorted(i[:12] for i in carried))}) — "
        "something rebuilt or pulled it: remove the container and start the stack again"
    )
