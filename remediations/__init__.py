"""podshift's own fixes, one module per area, offered through the ``pytest_podshift_fixes`` hook.

Each fix plans exactly what it will change (a diff for files, the exact
commands otherwise) and is applied, journaled and proven by its check only
with ``--fix-issues``.  See ``podshift.remediation`` for the model.
"""

from __future__ import annotations

import pytest
from podshift.remediations.containers_conf import DefaultUlimits, SelectOciRuntime
from podshift.remediations.files import BackupDir, BindMountPermissions
from podshift.remediations.images import QualifyImages
from podshift.remediations.network import DevNetTun, UnprivilegedPortStart
from podshift.remediations.podman_socket import StartPodmanSocket
from podshift.remediations.subids import SubIdRanges

from podshift.remediation import Fix

ALL_FIXES: tuple[type[Fix], ...] = (
    SelectOciRuntime,
    DefaultUlimits,
    SubIdRanges,
    DevNetTun,
    UnprivilegedPortStart,
    QualifyImages,
    StartPodmanSocket,
    BackupDir,
    BindMountPermissions,
)


@pytest.hookimpl
def pytest_podshift_fixes(config: pytest.Config) -> list[Fix]:
    return [fix() for fix in ALL_FIXES]
