"""Start the Podman API service for the user being checked (user scope)."""

from __future__ import annotations

from pathlib import Path

from podshift.remediation import CommandStep, Fix, FixContext, Plan
from podshift.runtimes.podman import ROOTFUL_SOCKET, rootless_socket


class StartPodmanSocket(Fix):
    name = "start-podman-socket"
    scope = "user"

    def plan(self, ctx: FixContext) -> Plan:
        user = ctx.podman_user
        sock = ROOTFUL_SOCKET if user == "root" else rootless_socket(_uid(user))
        run_as = None if user == "root" else user
        service = ("podman", "system", "service", "--time=0", f"unix://{sock}")
        return Plan(
            self.name,
            self.scope,
            f"start `podman system service` for {user} on {sock} (until reboot)",
            commands=(
                CommandStep(("mkdir", "-p", str(Path(sock).parent)), (), run_as=run_as),
                # A service: detached, in its own session; pkill -f undoes exactly this command line.
                CommandStep(service, ("pkill", "-f", " ".join(service)), run_as=run_as, detach=True, ready_socket=sock),
            ),
            notes=("persistently: `systemctl --user enable --now podman.socket` where systemd runs",),
        )


def _uid(user: str) -> int:
    import pwd

    return pwd.getpwnam(user).pw_uid
