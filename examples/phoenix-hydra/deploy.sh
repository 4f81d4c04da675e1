#!/bin/sh
# Bring phoenix-hydra up on Docker (default) or Podman:  ./deploy.sh [docker|podman]
# Builds the local base image first; never pulls.  Waits until healthy.
set -eu
cd "$(dirname "$0")"
engine=${1:-docker}
export PHOENIX_DATA_DIR="${PHOENIX_DATA_DIR:-$HOME/.local/share/phoenix-hydra}"
mkdir -p "$PHOENIX_DATA_DIR"
./compose/base/build-base.sh "$engine"
case "$engine" in
docker)
    # DOCKER_COMPOSE: path to a Compose v2 binary, when neither of the usual names is one.
    if [ -n "${DOCKER_COMPOSE:-}" ]; then set -- "$DOCKER_COMPOSE"
    elif docker compose version >/dev/null 2>&1; then set -- docker compose
    elif docker-compose version --short 2>/dev/null | grep -q '^2'; then set -- docker-compose
    else echo "deploy: Docker Compose v2 not found (docker compose / docker-compose v2)" >&2; exit 1
    fi
    "$@" up -d --build --wait
    ;;
podman)
    # podman-compose 1.6 on Podman 4.3 does not wait for service_healthy and
    # no systemd timer drives healthchecks here: podshift's compose layer does
    # both; this script only starts the stack.
    podman-compose up -d --build
    ;;
*) echo "deploy: unknown engine '$engine' (docker|podman)" >&2; exit 2 ;;
esac
echo "deploy: phoenix-hydra is up on $engine"
