#!/usr/bin/env bash
# Seed-compatible wrapper: ./scripts/rollback-to-docker.sh [--force] [--keep-data] [--verify-only]
# = podshift rollback, on the project in the current directory.  Other flags (--cleanup, ...) go to podshift.
set -euo pipefail
# shellcheck source=podshift-wrapper.sh
source "$(dirname "${BASH_SOURCE[0]}")/podshift-wrapper.sh"
podshift_exec rollback "$@"
