"""Host and engine facts for report headers (cheap, and never raising)."""

from __future__ import annotations

import os
import platform
import pwd

from podshift.engines import podman_user
from podshift.errors import PodshiftError
from podshift.probes import podman_cli
from podshift.runtimes import DockerRuntime


def engine_versions() -> dict[str, str]:
    """``{"Docker": "20.10.24 (API 1.41)", "Podman": "4.3.1 (rootless, user alice)"}``; failures say why."""
    versions: dict[str, str] = {}
    docker = DockerRuntime()
    try:
        docker.ping()
        version, api = docker.version()
        versions["Docker"] = f"{version} (API {api})"
    except PodshiftError as e:
        versions["Docker"] = f"unavailable: {getattr(e, 'reason', e)}"
    finally:
        docker.close()
    # The CLI answers in ~40 ms where the API's /version takes ~300 ms here.
    user = podman_user()
    try:
        result = podman_cli("version", "--format", "{{.Client.Version}}", user=user, timeout=30)
        mode = "rootful" if user == "root" else f"rootless, user {user}"
        versions["Podman"] = (
            f"{result.stdout.strip()} ({mode})"
            if result.succeeded
            else (f"unavailable: {result.stderr.strip()[-200:]}")
        )
    except PodshiftError as e:
        versions["Podman"] = f"unavailable: {e}"
    return versions


def host_summary() -> dict[str, str]:
    os_name = (
        platform.freedesktop_os_release().get("PRETTY_NAME", platform.system())
        if os.path.exists("/etc/os-release")
        else platform.system()
    )
    return {"Host": platform.node(), "OS": os_name, "Kernel": platform.release(), "User": user_name()}


def user_name() -> str:
    """``alice (uid 1000)``: who runs podshift, by name (the uid alone when it has none)."""
    uid = os.geteuid()
    try:
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:  # a uid without a passwd entry (containers): say so rather than fail a report
        return f"uid {uid}"
