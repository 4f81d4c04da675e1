#!/usr/bin/env bash
# Seed-compatible wrapper:
#   ./scripts/migration-recovery.sh {failed-build|failed-startup|network-issues|volume-issues|permission-issues|diagnose}
# = podshift recover SCENARIO (diagnose: podshift diagnose, which changes nothing), on the project in the
# current directory.  Log: migration-recovery.log (written by podshift).  Other flags go to podshift.
set -euo pipefail
# shellcheck source=podshift-wrapper.sh
source "$(dirname "${BASH_SOURCE[0]}")/podshift-wrapper.sh"
usage="usage: $(basename "$0") {failed-build|failed-startup|network-issues|volume-issues|permission-issues|diagnose} [podshift options]"
scenario=${1:-}
case "$scenario" in
  failed-build|failed-startup|network-issues|volume-issues|permission-issues)
    shift
    podshift_exec recover "$scenario" "$@"
    ;;
  diagnose)
    shift
    podshift_exec diagnose "$@"
    ;;
  -h|--help)
    echo "$usage"
    exit 0
    ;;
  *)
    echo "$usage" >&2
    exit 2
    ;;
esac
