#!/usr/bin/env bash
# Seed-compatible wrapper: ./scripts/backup-docker-config.sh [--include-data] [--force] [--verify-only]
# = podshift backup, on the project in the current directory.  Backup and manifest:
# .docker-backup/ and .docker-backup/backup-manifest.txt there.  Other flags go to podshift.
set -euo pipefail
# shellcheck source=podshift-wrapper.sh
source "$(dirname "${BASH_SOURCE[0]}")/podshift-wrapper.sh"
podshift_exec backup "$@"
