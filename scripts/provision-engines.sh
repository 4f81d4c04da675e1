#!/usr/bin/env bash
# Provision a Debian/Ubuntu host for podshift: Docker engine, Podman, their
# helpers, the engines' API services, and (optionally) a normal user for
# rootless Podman.  Run as root.  Idempotent: a second run changes nothing and
# only (re)starts services that are not answering.
#
#   scripts/provision-engines.sh [--rootless-user NAME] [--no-install] [--no-host-config]
#
# Host configuration that Podman needs on these machines lives in ONE place:
# configure_podman_host() below.  It writes exactly the settings documented in
# the README ("Host configuration"); podshift's prerequisite checks detect each
# of those problems when the settings are missing, and their tests induce them
# in isolation (CONTAINERS_CONF pointing at a test file) so the host itself can
# stay configured.
set -euo pipefail

ROOTLESS_USER=""
INSTALL=1
HOST_CONFIG=1
while [ $# -gt 0 ]; do
  case "$1" in
    --rootless-user) ROOTLESS_USER="${2:?--rootless-user needs a name}"; shift 2 ;;
    --no-install) INSTALL=0; shift ;;
    --no-host-config) HOST_CONFIG=0; shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "provision-engines: unknown argument: $1" >&2; exit 2 ;;
  esac
done

say() { printf 'provision-engines: %s\n' "$*"; }
die() { printf 'provision-engines: ERROR: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (sudo $0 $*)"

LOG_DIR=/var/log/podshift
mkdir -p "$LOG_DIR"

# chromium: the tests render podshift's HTML readiness report in a real (headless) browser.
PACKAGES=(docker.io podman runc crun conmon slirp4netns uidmap busybox-static iptables
          python3-venv python3-pip git ca-certificates curl chromium)

install_packages() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    say "packages already installed: ${PACKAGES[*]}"
    return
  fi
  say "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || die "apt-get update failed"
  apt-get install -y -qq "${missing[@]}" >"$LOG_DIR/apt.log" 2>&1 \
    || { tail -20 "$LOG_DIR/apt.log" >&2; die "apt-get install failed (log: $LOG_DIR/apt.log)"; }
}

# --- the one place where this host is configured for Podman -----------------
# 1. OCI runtime: crun refuses the cgroup v1 *hybrid* layout ("cgroups in hybrid
#    mode not supported"); runc works.  -> [engine] runtime = "runc" on hybrid.
# 2. Default ulimits: Podman's defaults exceed the hard limits here
#    (setrlimit ... Operation not permitted) -> default_ulimits within them.
# 3. No systemd here: cgroupfs manager and file event logger.
# 4. /dev/net/tun 0600 blocks rootless slirp4netns port publishing -> 0666.
MANAGED_MARK="# managed by podshift scripts/provision-engines.sh"
configure_podman_host() {
  local conf=/etc/containers/containers.conf hard_nofile hard_nproc nofile nproc runtime_line=""
  hard_nofile=$(ulimit -Hn); hard_nproc=$(ulimit -Hu)
  nofile=$(( hard_nofile == 0 ? 1024 : (hard_nofile < 1048576 ? hard_nofile : 1048576) ))
  [ "$hard_nofile" = unlimited ] && nofile=1048576
  nproc=4096; [ "$hard_nproc" != unlimited ] && [ "$hard_nproc" -lt 4096 ] && nproc=$hard_nproc
  if [ -d /sys/fs/cgroup/unified ]; then runtime_line='runtime = "runc"'; fi
  local systemd_lines=""
  if [ ! -d /run/systemd/system ]; then
    systemd_lines=$'cgroup_manager = "cgroupfs"\nevents_logger = "file"'
  fi
  local want
  want=$(cat <<CONF
$MANAGED_MARK
# Why each line is here: see the README, "Host configuration".
[containers]
default_ulimits = ["nofile=${nofile}:${nofile}", "nproc=${nproc}:${nproc}"]

[engine]
${runtime_line}
${systemd_lines}
CONF
)
  mkdir -p /etc/containers
  if [ -f "$conf" ] && ! grep -qF "$MANAGED_MARK" "$conf"; then
    cp -p "$conf" "$conf.podshift-orig"
    say "kept the original $conf as $conf.podshift-orig"
  fi
  if [ "$(cat "$conf" 2>/dev/null)" != "$want" ]; then
    printf '%s\n' "$want" >"$conf"
    say "wrote $conf"
  else
    say "$conf already configured"
  fi
  if [ -e /dev/net/tun ] && [ "$(stat -c %a /dev/net/tun)" != 666 ]; then
    chmod 0666 /dev/net/tun
    say "made /dev/net/tun 0666 (rootless port publishing)"
  fi
}

wait_for() { # wait_for SECONDS DESCRIPTION CMD...
  local secs=$1 what=$2; shift 2
  for _ in $(seq 1 $((secs * 2))); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  die "$what did not answer within ${secs}s"
}

start_dockerd() {
  if docker version >/dev/null 2>&1; then say "dockerd already answering"; return; fi
  say "starting dockerd (log: $LOG_DIR/dockerd.log)"
  setsid nohup dockerd >"$LOG_DIR/dockerd.log" 2>&1 </dev/null &
  wait_for 60 "dockerd (/var/run/docker.sock)" docker version \
    || { tail -20 "$LOG_DIR/dockerd.log" >&2; exit 1; }
  say "dockerd is up: $(docker version --format '{{.Server.Version}}')"
}

podman_ping() { curl -fsS --unix-socket "$1" http://d/_ping; }

start_podman_service_root() {
  local sock=/run/podman/podman.sock
  if podman_ping "$sock" >/dev/null 2>&1; then say "podman API already answering at $sock"; return; fi
  mkdir -p /run/podman
  say "starting podman system service at $sock (log: $LOG_DIR/podman-service.log)"
  setsid nohup podman system service --time=0 "unix://$sock" \
    >"$LOG_DIR/podman-service.log" 2>&1 </dev/null &
  wait_for 30 "podman API ($sock)" podman_ping "$sock"
}

# Podman 4.3 keeps the rootless network namespace as a file in $XDG_RUNTIME_DIR/netns bound in its
# pause process's mount namespace, and its runtime state in containers/networks/rootless-netns.  When
# that state is gone but the file stays (seen here after the pause process was replaced, e.g. by
# `podman system migrate`), every networked rootless container fails with "failed to mount runtime
# directory for rootless netns: no such file or directory".  Removing the stale file (inside the
# user's namespace, where it is mounted) lets Podman create both again.  Probed with
# `podman unshare --rootless-netns true`, which joins (or creates) that namespace.
clear_stale_rootless_netns() {
  local user=$1 runtime_dir=$2 out
  out=$(runuser -u "$user" -- env XDG_RUNTIME_DIR="$runtime_dir" sh -c 'cd / && podman unshare --rootless-netns true' 2>&1) && return 0
  case "$out" in *"failed to mount runtime directory for rootless netns"*) ;; *) return 0 ;; esac
  runuser -u "$user" -- env XDG_RUNTIME_DIR="$runtime_dir" sh -c 'cd / && podman unshare sh -c "
    for f in \"\$XDG_RUNTIME_DIR\"/netns/rootless-netns-*; do umount \"\$f\" 2>/dev/null; rm -f \"\$f\"; done"'
  say "removed $user's stale rootless network namespace (Podman said: failed to mount runtime directory for rootless netns)"
}

# Podman keeps a rootless user's namespaces in a pause process.  When every process of the user was
# killed while containers ran (an OOM kill, a CI runner reaping its jobs) but the runtime directory
# survived, Podman finds neither the pause process nor the conmon of the containers its database still
# calls running, and every command fails with "invalid internal status, try resetting the pause process
# with podman system migrate" (Podman 4.3).  That command is the reset: it marks those containers
# stopped and starts a new pause process.  (Podman 4.3 leaves them "Stopping": they can be removed,
# not started again.)
reset_dead_pause_process() {
  local user=$1 runtime_dir=$2 out
  out=$(runuser -u "$user" -- env XDG_RUNTIME_DIR="$runtime_dir" sh -c 'cd / && podman info --format "{{.Host.OCIRuntime.Name}}"' 2>&1) && return 0
  # Only this cause: the same line with "cannot set up namespace using newuidmap" is not a lost process.
  case "$out" in *"invalid internal status"*"could not find any running process"*) ;; *) return 0 ;; esac
  runuser -u "$user" -- env XDG_RUNTIME_DIR="$runtime_dir" sh -c 'cd / && podman system migrate' >/dev/null 2>&1 \
    || die "podman system migrate failed for $user after: $out"
  say "reset $user's Podman: its pause process and containers had been killed (Podman said: invalid internal status)"
  # Nothing of the user runs after the reset, so no aardvark-dns entry is true any more: cleared, as a
  # reboot clears them (a removed network's file otherwise outlives it, and the next network with its
  # gateway answers NXDOMAIN for every name).
  runuser -u "$user" -- find "$runtime_dir/containers/networks/aardvark-dns" -maxdepth 1 -type f -delete 2>/dev/null || true
  # What ran then can be left "stopping": it never starts again and holds its names and networks.
  # Removed (their volumes stay), each named.
  local stuck
  stuck=$(runuser -u "$user" -- env XDG_RUNTIME_DIR="$runtime_dir" sh -c 'cd / && podman ps -a --format "{{.Names}} {{.State}}"' 2>/dev/null \
    | awk 'tolower($2) == "stopping" { print $1 }') || true
  if [ -n "$stuck" ]; then
    # shellcheck disable=SC2086  # one name per word
    if runuser -u "$user" -- env XDG_RUNTIME_DIR="$runtime_dir" sh -c 'cd / && podman rm -f --depend "$@"' sh $stuck >/dev/null 2>&1; then
      say "removed $user's containers that the reset left stopping (they cannot start again): $(echo $stuck)"
    else
      say "WARNING: could not remove $user's containers left stopping: $(echo $stuck)"
    fi
  fi
}

ensure_rootless_user() {
  local user=$1 uid runtime_dir sock
  if ! id "$user" >/dev/null 2>&1; then
    useradd -m -s /bin/bash "$user"
    say "created user $user"
  fi
  for f in /etc/subuid /etc/subgid; do
    if ! grep -q "^$user:" "$f" 2>/dev/null; then
      usermod "--add-sub$( [ "$f" = /etc/subuid ] && echo uids || echo gids )" 200000-265535 "$user"
      say "added $f range for $user"
    fi
  done
  uid=$(id -u "$user")
  runtime_dir=/run/user/$uid
  install -d -m 0700 -o "$user" -g "$(id -gn "$user")" "$runtime_dir" "$runtime_dir/podman"
  sock=$runtime_dir/podman/podman.sock
  reset_dead_pause_process "$user" "$runtime_dir"
  clear_stale_rootless_netns "$user" "$runtime_dir"
  if podman_ping "$sock" >/dev/null 2>&1; then say "rootless podman API already answering at $sock"; return; fi
  say "starting rootless podman system service for $user at $sock"
  runuser -u "$user" -- env XDG_RUNTIME_DIR="$runtime_dir" HOME="$(getent passwd "$user" | cut -d: -f6)" \
    setsid nohup podman system service --time=0 "unix://$sock" \
    >"$LOG_DIR/podman-service-$user.log" 2>&1 </dev/null &
  wait_for 30 "rootless podman API ($sock)" podman_ping "$sock"
}

[ "$INSTALL" -eq 1 ] && install_packages
command -v curl >/dev/null || { apt-get install -y -qq curl >/dev/null || die "curl missing"; }
[ "$HOST_CONFIG" -eq 1 ] && configure_podman_host
start_dockerd
start_podman_service_root
[ -n "$ROOTLESS_USER" ] && ensure_rootless_user "$ROOTLESS_USER"
say "docker: $(docker version --format '{{.Server.Version}}'); podman: $(podman version --format '{{.Server.Version}}' 2>/dev/null || podman --version)"
say "done"
