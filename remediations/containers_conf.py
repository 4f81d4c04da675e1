"""containers.conf fixes: the OCI runtime and the default ulimits.

The file edited is the one Podman reads for the user being checked:
``$CONTAINERS_CONF`` when set, the user's ``~/.config/containers/containers.conf``
for rootless Podman (user scope), ``/etc/containers/containers.conf`` for
root (system scope).  tomlkit keeps the file's comments and layout.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import tomlkit

from podshift.engines import podman_runtime_for
from podshift.images import ensure_helper_image
from podshift.probes import SYSTEM_CONTAINERS_CONF, hard_limit, podman_cli
from podshift.remediation import FileChange, Fix, FixContext, FixRefused, Plan, Scope


def target(ctx: FixContext) -> tuple[Path, Scope, str | None]:
    """(file, scope, owner) of the containers.conf to edit."""
    override = os.environ.get("CONTAINERS_CONF")
    if override:
        path = Path(override)
        owner = path.owner() if path.exists() else None
        return path, ("system" if str(path).startswith("/etc/") else "user"), owner
    if ctx.podman_user != "root":
        return ctx.podman_home / ".config/containers/containers.conf", "user", ctx.podman_user
    return SYSTEM_CONTAINERS_CONF, "system", None


def edited(path: Path, section: str, key: str, value: object) -> bytes:
    doc = tomlkit.parse(path.read_text()) if path.exists() else tomlkit.document()
    if section not in doc:
        doc[section] = tomlkit.table()
    doc[section][key] = value  # type: ignore[index]
    return tomlkit.dumps(doc).encode()


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o7777 if path.exists() else 0o644


class SelectOciRuntime(Fix):
    """crun refuses cgroup v1 hybrid hosts: select runc, which works there."""

    name = "select-oci-runtime"
    scope = "user"

    def plan(self, ctx: FixContext) -> Plan:
        if shutil.which("runc") is None:
            raise FixRefused(self.name, "runc is not installed (apt-get install runc / dnf install runc)")
        path, scope, owner = target(ctx)
        return Plan(
            self.name,
            scope,
            f'set [engine] runtime = "runc" in {path}',
            files=(FileChange(path, edited(path, "engine", "runtime", "runc"), _mode(path), owner),),
            security_effect=(
                "every container Podman starts from this file's scope then runs under runc instead of crun: the same "
                "isolation (namespaces, seccomp, capabilities), nothing is opened up"
            ),
        )


class DefaultUlimits(Fix):
    """Podman's default ulimits exceed this host's hard limits: cap them."""

    name = "default-ulimits"
    scope = "user"

    def _highest(self, ctx: FixContext, name: str, hard: int, other: str) -> int:
        candidates = sorted({min(hard, c) for c in (1048576, 65536, 32768, 16384, 8192, 4096, 1024)}, reverse=True)
        api = podman_runtime_for(ctx.podman_user)
        try:
            image = ensure_helper_image(api)
        finally:
            api.close()  # an unclosed API socket surfaces later as a ResourceWarning in someone else's test
        # The probe is about limits, not the runtime: use runc when there is one
        # (crun may fail on the cgroup layout, which select-oci-runtime fixes).
        runtime = ["--runtime", "runc"] if shutil.which("runc") else []
        for value in candidates:
            probe = podman_cli(
                "run",
                "--rm",
                "--pull=never",
                "--network=none",
                *runtime,
                "--ulimit",
                other,
                "--ulimit",
                f"{name}={value}:{value}",
                image,
                "true",
                user=ctx.podman_user,
            )
            if probe.succeeded:
                return value
            if "rlimit" not in probe.stderr.lower() and "setrlimit" not in probe.stderr:
                raise FixRefused(self.name, f"containers fail for another reason: {probe.stderr.strip()[-300:]}")
        raise FixRefused(self.name, f"no container starts even with {name}={candidates[-1]}")

    def plan(self, ctx: FixContext) -> Plan:
        # The ceiling a container really gets is not always the shell's hard
        # limit (conmon may run with lower ones): probe with real containers.
        nofile = self._highest(ctx, "nofile", hard_limit("nofile") or 1048576, "nproc=1024:1024")
        nproc = self._highest(ctx, "nproc", hard_limit("nproc") or 4194304, f"nofile={nofile}:{nofile}")
        path, scope, owner = target(ctx)
        value = [f"nofile={nofile}:{nofile}", f"nproc={nproc}:{nproc}"]
        return Plan(
            self.name,
            scope,
            f"set [containers] default_ulimits = {value} in {path} "
            "(the highest values a container could start with here)",
            files=(FileChange(path, edited(path, "containers", "default_ulimits", value), _mode(path), owner),),
            security_effect=(
                "containers started from this file's scope get these open-file and process limits by default; "
                "lower limits only reduce what a container may use, nothing is opened up"
            ),
        )
