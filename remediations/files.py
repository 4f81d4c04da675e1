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
                if source.owner() != user:
                    raise FixRefused(
                        self.name,
                        f"{source} belongs to {source.owner()}, not {user}: "
                        f"`chown -R {user} {source}` or `setfacl -m u:{user}:rX {source}`",
                    )
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
        return Plan(self.name, scope, f"make bind-mount sources exist and reachable for {user}", commands=tuple(steps))

    @staticmethod
    def _scope(ctx: FixContext, path: Path) -> Scope:
        if path.is_relative_to(ctx.project.project_dir):
            return "project"
        # Changes made as a normal Podman user, with that user's own rights, are user scope.
        if path.is_relative_to(ctx.podman_home) or ctx.podman_user != "root":
            return "user"
        return "system"
