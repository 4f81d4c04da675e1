"""The migration's steps (Docker -> Podman), in the order they run.

1 ``prerequisites``, 2 ``backup``, 3 ``volumes-bulk-copy`` (while Docker
serves), 4 ``images``, 5 ``stop-docker``, 6 ``volumes-final-sync`` (what
changed, then verified), 7 ``compose-rewrite``, 8 ``bind-owners``, 9
``start-podman``; the ``post_migration`` checks follow.
"""

from __future__ import annotations

from podshift.steps import Step

from .backup import Backup
from .binds import BindOwners
from .compose_rewrite import ComposeRewrite
from .images import Images
from .prerequisites import Prerequisites
from .stack import StartPodman, StopDocker
from .volumes import VolumesBulkCopy, VolumesFinalSync

MIGRATE_STEPS: tuple[type[Step], ...] = (
    Prerequisites,
    Backup,
    VolumesBulkCopy,
    Images,
    StopDocker,
    VolumesFinalSync,
    ComposeRewrite,
    BindOwners,
    StartPodman,
)
