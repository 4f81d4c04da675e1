"""Sub-uid/gid ranges for the rootless user (system scope: usermod edits /etc/subuid and /etc/subgid)."""

from __future__ import annotations

from pathlib import Path

from podshift.probes import subid_ranges
from podshift.remediation import CommandStep, Fix, FixContext, FixRefused, Plan

SUBUID, SUBGID = Path("/etc/subuid"), Path("/etc/subgid")
FIRST, COUNT = 100000, 65536


def free_range_start() -> int:
    """The first id after every range already handed out (so the new range overlaps none)."""
    end = FIRST
    for path in (SUBUID, SUBGID):
        if path.exists():
            for line in path.read_text().splitlines():
                parts = line.split(":")
                if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
                    end = max(end, int(parts[1]) + int(parts[2]))
    return end


class SubIdRanges(Fix):
    name = "subuid-ranges"
    scope = "system"

    def plan(self, ctx: FixContext) -> Plan:
        user = ctx.podman_user
        if user == "root":
            raise FixRefused(self.name, "root's Podman is rootful and needs no sub-ids")
        missing = [p for p in (SUBUID, SUBGID) if sum(r.count for r in subid_ranges(user, p)) < COUNT]
        if not missing:
            return Plan(self.name, self.scope, "nothing to do")
        start = free_range_start()
        span = f"{start}-{start + COUNT - 1}"
        add: list[str] = []
        for path in missing:
            add += [f"--add-sub{'uids' if path == SUBUID else 'gids'}", span]
        return Plan(
            self.name,
            self.scope,
            f"give {user} the sub-id range {span} ({', '.join(map(str, missing))})",
            commands=(
                # Undone by restoring the journaled bytes of /etc/subuid and /etc/subgid
                # (usermod --del-sub* refuses while the user's Podman pause process runs).
                CommandStep(("usermod", *add, user)),
                # Podman caches the mapping; migrate makes it re-read the files (also after a revert).
                CommandStep(("podman", "system", "migrate"), ("podman", "system", "migrate"), run_as=user),
            ),
            touches=tuple(missing),
            security_effect=(
                f"{user} may then map {COUNT} more uids/gids ({span}) in user namespaces it creates; those ids must "
                "belong to no one else (the range is chosen after every range already handed out)"
            ),
        )
