"""Host networking for rootless Podman: /dev/net/tun and the unprivileged port range (system scope)."""

from __future__ import annotations

import stat
from pathlib import Path

from podshift.probes import run
from podshift.remediation import CommandStep, FileChange, Fix, FixContext, FixRefused, Plan

TUN = Path("/dev/net/tun")
TUN_RULE = Path("/etc/udev/rules.d/60-podshift-tun.rules")
PORTS_DROPIN = Path("/etc/sysctl.d/60-podshift-unprivileged-ports.conf")
PORT_KEY = "net.ipv4.ip_unprivileged_port_start"


class DevNetTun(Fix):
    name = "dev-net-tun"
    scope = "system"

    def plan(self, ctx: FixContext) -> Plan:
        if not TUN.exists():
            raise FixRefused(self.name, "/dev/net/tun does not exist: load the tun module (`modprobe tun`)")
        mode = stat.S_IMODE(TUN.stat().st_mode)
        if mode & 0o666 == 0o666:
            return Plan(self.name, self.scope, "nothing to do")
        return Plan(
            self.name,
            self.scope,
            f"make /dev/net/tun usable by every user (mode {mode:04o} -> 0666)",
            files=(
                FileChange(
                    TUN_RULE,
                    b'# podshift: rootless Podman publishes ports through slirp4netns\nKERNEL=="tun", MODE="0666"\n',
                ),
            ),
            commands=(CommandStep(("chmod", "0666", str(TUN)), ("chmod", f"{mode:04o}", str(TUN))),),
            security_effect=(
                "every local user may then open /dev/net/tun and create TUN/TAP devices in network namespaces "
                "they own (needed for rootless networking; the host's own interfaces stay root's)"
            ),
        )


class UnprivilegedPortStart(Fix):
    name = "unprivileged-port-start"
    scope = "system"

    def plan(self, ctx: FixContext) -> Plan:
        now = int(run(["sysctl", "-n", PORT_KEY]).check().stdout.strip())
        low = [p.published for _, p in ctx.project.published_ports if p.published is not None and p.published < now]
        if not low:
            return Plan(self.name, self.scope, "nothing to do")
        new = min(low)
        alternative = f"alternative (project scope): publish these services on ports >= {now} in the compose file"
        return Plan(
            self.name,
            self.scope,
            f"let unprivileged users bind ports from {new} ({PORT_KEY} {now} -> {new})",
            files=(
                FileChange(
                    PORTS_DROPIN, f"# podshift: rootless Podman publishes port {new}\n{PORT_KEY} = {new}\n".encode()
                ),
            ),
            commands=(CommandStep(("sysctl", "-w", f"{PORT_KEY}={new}"), ("sysctl", "-w", f"{PORT_KEY}={now}")),),
            security_effect=(
                f"every user and process on this host may then bind ports {new}-{now - 1}, not only root: any "
                "local account could take them (and impersonate a service there) whenever they are free"
            ),
            notes=(alternative,),
        )
