#!/bin/sh
# Stop phoenix-hydra and remove its containers and networks:
#   ./teardown.sh [docker|podman] [--volumes]
# Named volumes are kept unless --volumes is given (they hold the data).
set -eu
cd "$(dirname "$0")"
engine=docker; volumes=""
for arg in "$@"; do
    case "$arg" in
    docker|podman) engine=$arg ;;
    --volumes|-v) volumes=--volumes ;;
    *) echo "teardown: unknown argument '$arg'" >&2; exit 2 ;;
    esac
done
export PHOENIX_DATA_DIR="${PHOENIX_DATA_DIR:-$HOME/.local/share/phoenix-hydra}"
if [ "$engine" = docker ]; then
    if [ -n "${DOCKER_COMPOSE:-}" ]; then set -- "$DOCKER_COMPOSE"
    elif docker compose version >/dev/null 2>&1; then set -- docker compose
    else set -- docker-compose
    fi
    "$@" down --remove-orphans $volumes
else
    podman-compose down $volumes
fi
echo "teardown: phoenix-hydra removed from $engine${volumes:+ (volumes too)}"
