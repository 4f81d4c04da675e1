"""The rollback (Podman -> Docker) in the seed's seven steps.

1 ``stop-podman``, 2 ``snapshot-podman``, 3 ``restore-docker-config``,
4 ``migrate-data``, 5 ``start-docker``, 6 the ``post_rollback`` checks
(``checks/post_rollback/``), 7 ``cleanup`` (with ``--cleanup``, after the same
verifications pass).  Journaled in ``<project>/.podshift/rollback.json``.
"""

from __future__ import annotations

from podshift.steps import Step

from .cleanup import Cleanup
from .migrate_data import MigrateData
from .restore_config import RestoreDockerConfig
from .snapshot_podman import SnapshotPodman
from .start_docker import StartDocker
from .stop_podman import StopPodman

ROLLBACK_STEPS: tuple[type[Step], ...] = (
    StopPodman,
    SnapshotPodman,
    RestoreDockerConfig,
    MigrateData,
    StartDocker,
    Cleanup,
)
