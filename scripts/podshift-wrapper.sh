# Sourced by the seed-compatible wrappers (backup-docker-config.sh, validate-migration-prerequisites.sh,
# migration-recovery.sh, rollback-to-docker.sh).  Not a command of its own.
#
# podshift_exec VERB [ARGS...]: replace this shell by `podshift VERB ARGS...`, so podshift's exit code is
# the script's.  The project is the current directory, as in the seed guide (`./scripts/...` run from the
# project): podshift finds it as docker compose does (or take PROJECT_DIR / --project-dir in ARGS).
#
# Which podshift: $PODSHIFT if set; else one installed beside the wrapper (the wrappers copied into a
# venv's bin/); else the venv or tox env of the checkout the wrapper lives in; else `podshift` on PATH.

podshift_find() {
  local here candidate
  here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  if [ -n "${PODSHIFT:-}" ]; then
    printf '%s\n' "$PODSHIFT"
    return 0
  fi
  for candidate in "$here/podshift" "$here/../.venv/bin/podshift" "$here/../.tox/tests/bin/podshift" \
    "$here/../.tox/readiness/bin/podshift"; do
    if [ -x "$candidate" ]; then
      printf '%s\n' "$candidate"
      return 0
    fi
  done
  if command -v podshift >/dev/null 2>&1; then
    command -v podshift
    return 0
  fi
  echo "$(basename "$0"): podshift not found: install it (pip install podshift), activate its venv, or set PODSHIFT=/path/to/podshift" >&2
  return 127
}

podshift_exec() {
  local verb=$1 exe
  shift
  exe=$(podshift_find) || exit $?
  exec "$exe" "$verb" "$@"
}
