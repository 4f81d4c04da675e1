"""diagnose: the stack between Docker and Podman, read without changing anything."""

from __future__ import annotations

from collections.abc import Callable

import pytest

pytestmark = [pytest.mark.recovery, pytest.mark.scenario("diagnose")]


@pytest.mark.check_id("recovery.diagnose.engines-answer")
@pytest.mark.category("system")
@pytest.mark.severity("critical")
def test_engines_answer(no_findings: Callable[[str], None]) -> None:
    """Docker and the target Podman both answer on their sockets."""
    no_findings("engines")


@pytest.mark.check_id("recovery.diagnose.no-action-stopped-midway")
@pytest.mark.category("system")
@pytest.mark.severity("critical")
def test_no_action_stopped_midway(no_findings: Callable[[str], None]) -> None:
    """Neither the migration nor the rollback stopped part-way."""
    no_findings("journals")


@pytest.mark.check_id("recovery.diagnose.published-ports-served-by-the-project")
@pytest.mark.category("network")
@pytest.mark.severity("critical")
def test_published_ports_served_by_the_project(no_findings: Callable[[str], None]) -> None:
    """Each published port is served by the project's own containers, on one engine."""
    no_findings("ports")


@pytest.mark.check_id("recovery.diagnose.containers-run-on-one-engine")
@pytest.mark.category("compose")
@pytest.mark.severity("critical")
def test_containers_run_on_one_engine(no_findings: Callable[[str], None]) -> None:
    """The project's containers run (and are healthy) under one engine only."""
    no_findings("containers")


@pytest.mark.check_id("recovery.diagnose.networks-exist")
@pytest.mark.category("network")
@pytest.mark.severity("critical")
def test_networks_exist(no_findings: Callable[[str], None]) -> None:
    """The project's declared networks exist under Podman."""
    no_findings("networks")


@pytest.mark.check_id("recovery.diagnose.config-matches-backup")
@pytest.mark.category("backup")
@pytest.mark.severity("warning")
def test_config_matches_backup(no_findings: Callable[[str], None]) -> None:
    """A backup exists, and the config files are as the backup manifest records them."""
    no_findings("config")


@pytest.mark.check_id("recovery.diagnose.backup-volumes-exist")
@pytest.mark.category("backup")
@pytest.mark.severity("critical")
def test_backup_volumes_exist(no_findings: Callable[[str], None]) -> None:
    """Every volume of the backup exists on an engine."""
    no_findings("volumes")


@pytest.mark.check_id("recovery.diagnose.volume-data-matches-backup")
@pytest.mark.category("backup")
@pytest.mark.severity("info")
def test_volume_data_matches_backup(no_findings: Callable[[str], None]) -> None:
    """Each volume's content digest equals the backup's (it differs once the application writes)."""
    no_findings("volume-data")
