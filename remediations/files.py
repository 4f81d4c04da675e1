"""Project files: the backup directory and bind-mount sources (project or user scope)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from podshift.probes import can_access
from podshift.remediation import CommandStep, Fix, FixContext, FixRefused, Plan, Scope

BACKUP_DIR = ".docker-backup"


class BackupDir(Fix):
    name = "backup-dir"
    scope = "project"

    def plan(self, ctx: FixContext) -> Plan:
        backup = ctx.project.project_dir / BACKUP_DIR
        if not backup.exists():
            return Plan(
                self.name,
                self.scope,
                f"create {backup} (0700)",
                commands=(CommandStep(("mkdir", "-m", "0700", str(backup)), ("rmdir", str(backup))),),
            )
        if not backup.is_dir():
            raise FixRefused(self.name, f"{backup} exists and is not a directory: move it away by hand")
        mode = stat.S_IMODE(backup.stat().st_mode)
        if mode == 0o700:
            return Plan(self.name, self.scope, "nothing to do")
        return Plan(
            self.name,
            self.scope,
            f"make {backup} private ({mode:04o} -> 0700)",
            commands=(CommandStep(("chmod", "0700", str(backup)), ("chmod", f"{mode:04o}", str(backup))),),
        )


#: Sockets that hand whoever can write them root on this host.
ENGINE_SOCKETS = ("/var/run/docker.sock", "/run/docker.sock", "/run/podman/podman.sock", "/var/run/podman/podman.sock")


def is_engine_socket(path: Path) -> bool:
    """A container engine's API socket: access to it is root-equivalent."""
    try:
        is_socket = stat.S_ISSOCK(path.stat().st_mode)
    except OSError:
        is_socket = False
    return str(path) in ENGINE_SOCKETS or (is_socket and path.name in ("docker.sock", "podman.sock"))


def engine_socket_advice(source: Path, user: str) -> str:
    """Never widen access to an engine socket: say what to mount instead."""
    return (
        f"{source} is a container engine's API socket: giving {user} access to it is giving {user} root on this "
        "host, so podshift will not suggest it; under rootless Podman mount the user's own Podman socket "
        f"($XDG_RUNTIME_DIR/podman/podman.sock, started with `podman system service`) at {source} instead"
    )


def untraversable_parent(path: Path, user: str) -> Path | None:
    """The first parent directory *user* cannot enter (then no permission on *path* itself helps)."""
    for parent in reversed(path.parents):
        if not can_access(parent, user, os.X_OK):
            return parent
    return None


def access_advice(source: Path, user: str) -> str:
    """How *user* gets read access to someone else's *source*: an ACL only where the way there is open."""
    blocked = untraversable_parent(source, user)
    if blocked is not None:
        mode = stat.S_IMODE(blocked.stat().st_mode)
        return (
            f"{source} belongs to {source.owner()}, and {user} cannot enter {blocked} (mode {mode:04o}, owner "
            f"{blocked.owner()}): no permission on {source} itself can help, and opening {blocked} would expose "
            f"everything in it — move the data somewhere {user} may reach (e.g. under ~{user}/) and point the "
            "bind mount there"
        )
    return (
        f"{source} belongs to {source.owner()}, not {user}: grant read access with an ACL, which keeps the "
        f"owner and mode as they are: `setfacl -R -m u:{user}:rX {source}` (or hand it over: "
        f"`chown -R {user} {source}`)"
    )


class BindMountPermissions(Fix):
    """Create missing bind-mount sources as the Podman user; open the user's own unreadable ones."""

    name = "bind-mount-permissions"
    scope = "project"

    def plan(self, ctx: FixContext) -> Plan:
        user = ctx.podman_user
        run_as = None if user == "root" else user
        steps: list[CommandStep] = []
        scopes: set[Scope] = set()
        for source in ctx.project.bind_sources:
            if source.exists():
                if can_access(source, user, os.R_OK) and (not source.is_dir() or can_access(source, user, os.X_OK)):
                    continue
                if is_engine_socket(source):
                    raise FixRefused(self.name, engine_socket_advice(source, user))
                if source.owner() != user:
                    raise FixRefused(self.name, access_advice(source, user))
                mode = stat.S_IMODE(source.stat().st_mode)
                steps.append(
                    CommandStep(("chmod", "u+rwX", str(source)), ("chmod", f"{mode:04o}", str(source)), run_as=run_as)
                )
                scopes.add(self._scope(ctx, source))
                continue
            missing = [p for p in (source, *source.parents) if not p.exists()][::-1]
            if not can_access(missing[0].parent, user, os.W_OK):
                raise FixRefused(
                    self.name,
                    f"{user} cannot create {missing[0]} in {missing[0].parent}: "
                    f"create {source} for {user} by hand or choose another location",
                )
            for directory in missing:
                steps.append(CommandStep(("mkdir", str(directory)), ("rmdir", str(directory)), run_as=run_as))
            scopes.add(self._scope(ctx, source))
        if not steps:
            return Plan(self.name, self.scope, "nothing to do")
        scope: Scope = "system" if "system" in scopes else ("user" if "user" in scopes else "project")
        touched = ", ".join(str(c.argv[-1]) for c in steps)
        return Plan(
            self.name,
            scope,
            f"make bind-mount sources exist and reachable for {user}",
            commands=tuple(steps),
            security_effect=f"{user} owns or may read only these paths, nothing around them: {touched}",
        )

    @staticmethod
    def _scope(ctx: FixContext, path: Path) -> Scope:
        if path.is_relative_to(ctx.project.project_dir):
            return "project"
        # Changes made as a normal Podman user, with that user's own rights, are user scope.
        if path.is_relative_to(ctx.podman_home) or ctx.podman_user != "root":
            return "user"
        return "system"
