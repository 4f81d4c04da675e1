"""podshift's own fixes and steps, one module per area, offered through podshift's hooks.

Fixes (``pytest_podshift_fixes``) repair what a readiness check found; steps
(``pytest_podshift_steps``) make up the actions migrate, rollback and recover.

Each fix plans exactly what it will change (a diff for files, the exact
commands otherwise) and is applied, journaled and proven by its check only
with ``--fix-issues``.  See ``podshift.remediation`` for the model.
"""

from __future__ import annotations

import pytest

from podshift.remediation import Fix
from podshift.remediations.containers_conf import DefaultUlimits, SelectOciRuntime
from podshift.remediations.files import BackupDir, BindMountPermissions
from podshift.remediations.images import QualifyImages
from podshift.remediations.migrate import MIGRATE_STEPS
from podshift.remediations.network import DevNetTun, UnprivilegedPortStart
from podshift.remediations.podman_socket import StartPodmanSocket
from podshift.remediations.recover.build import BuildServices, CarryBaseImages, CleanBuildArtefacts, RewriteChmod
from podshift.remediations.recover.diagnose import DiagnosisReport
from podshift.remediations.recover.network import (
    CheckConnectivity,
    FindSubnetOwners,
    RecreateNetworks,
    RootlessNetns,
    StaleDnsFiles,
)
from podshift.remediations.recover.permissions import (
    ContainersConf,
    NewUidMap,
    PauseProcess,
    PodmanService,
    SubIds,
    UserNamespace,
)
from podshift.remediations.recover.startup import (
    FindBlockers,
    PrivilegedPorts,
    RemoveLeftovers,
    StartServices,
    StopServices,
)
from podshift.remediations.recover.volumes import ReownBindSources, RestoreVolumes
from podshift.remediations.rollback import ROLLBACK_STEPS
from podshift.remediations.subids import SubIdRanges
from podshift.steps import Step

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


#: podshift's own steps, for every action (each step says which action it belongs to).
ALL_STEPS: tuple[type[Step], ...] = (
    *MIGRATE_STEPS,
    *ROLLBACK_STEPS,
    DiagnosisReport,
    FindBlockers,
    PrivilegedPorts,
    StopServices,
    RemoveLeftovers,
    StartServices,
    RootlessNetns,
    StaleDnsFiles,
    FindSubnetOwners,
    RecreateNetworks,
    CheckConnectivity,
    CleanBuildArtefacts,
    CarryBaseImages,
    RewriteChmod,
    BuildServices,
    ReownBindSources,
    RestoreVolumes,
    PauseProcess,
    UserNamespace,
    SubIds,
    NewUidMap,
    ContainersConf,
    PodmanService,
)


@pytest.hookimpl
def pytest_podshift_steps(config: pytest.Config, action: str, scenario: str | None) -> list[Step]:
    return [step() for step in ALL_STEPS]
