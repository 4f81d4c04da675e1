#!/usr/bin/env bash
# Seed-compatible wrapper:
#   ./scripts/validate-migration-prerequisites.sh [--fix-issues] [--export-report] [--verify-only] [--detailed]
# = podshift validate, on the project in the current directory.  Exit 0 READY / READY WITH WARNINGS,
# 1 NOT READY.  --export-report writes reports/migration-prerequisites-report.txt.  Other flags go to podshift.
set -euo pipefail
# shellcheck source=podshift-wrapper.sh
source "$(dirname "${BASH_SOURCE[0]}")/podshift-wrapper.sh"
podshift_exec validate "$@"
