"""Host and engine facts for report headers (cheap, and never raising)."""

from __future__ import annotations

import os
import platform

from podshift.engines import make_runtime
from podshift.errors import PodshiftError


def engine_versions() -> dict[str, str]:
    """``{"Docker": "20.10.24 (API 1.41, runc)", "Podman": ...}``; unreachable engines say why."""
    versions: dict[str, str] = {}
    for label, kind in (("Docker", "docker"), ("Podman", "podman")):
        runtime = make_runtime(kind)
        try:
            runtime.ping()
            info = runtime.info()
            mode = ", rootless" if info.rootless else ""
            versions[label] = f"{info.version} (API {info.api_version}, {info.oci_runtime}{mode})"
        except PodshiftError as e:
            versions[label] = f"unavailable: {getattr(e, 'reason', e)}"
        finally:
            runtime.close()
    return versions


def host_summary() -> dict[str, str]:
    os_name = (
        platform.freedesktop_os_release().get("PRETTY_NAME", platform.system())
        if os.path.exists("/etc/os-release")
        else platform.system()
    )
    return {"Host": platform.node(), "OS": os_name, "Kernel": platform.release(), "User": str(os.geteuid())}
