"""Choosing and connecting the engines a session works with."""

from __future__ import annotations

import os
import pwd

from podshift.runtimes import DockerRuntime, PodmanRuntime, Runtime

#: Environment variable naming the normal user whose rootless Podman root drives.
ROOTLESS_USER_ENV = "PODSHIFT_ROOTLESS_USER"
#: Set to 1 to make a missing engine a failure instead of a skip (CI sets it).
REQUIRE_ENGINES_ENV = "PODSHIFT_REQUIRE_ENGINES"


def engines_required() -> bool:
    return os.environ.get(REQUIRE_ENGINES_ENV, "") not in ("", "0", "false", "no")


def rootless_user() -> str | None:
    """The user whose rootless Podman to use: ourselves when not root, else $PODSHIFT_ROOTLESS_USER."""
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid()).pw_name
    return os.environ.get(ROOTLESS_USER_ENV) or None


def podman_user() -> str:
    """Who runs Podman for this session: the invoking user, or as root $PODSHIFT_ROOTLESS_USER, else root."""
    return rootless_user() or "root"


def podman_runtime_for(user: str) -> PodmanRuntime:
    """The Podman API of *user*: rootful for root, rootless otherwise (driven as that user when we are root)."""
    if user == "root":
        return PodmanRuntime.rootful()
    return PodmanRuntime.for_user(user if os.geteuid() == 0 else None)


def make_runtime(kind: str) -> Runtime:
    """A runtime by kind: ``docker``, ``podman`` (the invoking user's), ``podman-rootless``."""
    if kind == "docker":
        return DockerRuntime()
    if kind == "podman":
        return PodmanRuntime.default()
    if kind == "podman-rootless":
        user = rootless_user()
        if user is None:
            raise LookupError(f"running as root: set {ROOTLESS_USER_ENV} to the user whose rootless Podman to use")
        return PodmanRuntime.for_user(None if os.geteuid() != 0 else user)
    raise ValueError(f"unknown engine kind {kind!r} (docker, podman, podman-rootless)")
