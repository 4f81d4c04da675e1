#!/usr/bin/env bash
# The README's two commands:
#   scripts/dev.sh readiness   the main job: readiness checks of the example stack,
#                              HTML and text reports in reports/
#   scripts/dev.sh tests       podshift's own test suite on real engines
# Anything after the job name is passed to pytest.
#
# Works on a fresh Debian/Ubuntu machine that has python3 and git: it
# provisions the engines (as root, through sudo when needed), creates .venv
# with tox, and runs the tox environment of the same name.
set -euo pipefail
cd "$(dirname "$0")/.."

job=${1:-}
case "$job" in
  readiness|tests) shift ;;
  *) echo "usage: scripts/dev.sh readiness|tests [pytest args...]" >&2; exit 2 ;;
esac

# The normal user whose rootless Podman the tests (run as root) drive.  The
# readiness job checks the migration of whoever runs it (root: rootful Podman)
# unless PODSHIFT_ROOTLESS_USER is set by the caller.
TEST_USER=${PODSHIFT_ROOTLESS_USER:-podshift}

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
if [ "$(id -u)" -eq 0 ]; then
  as_root bash scripts/provision-engines.sh --rootless-user "$TEST_USER"
else
  # Run as a normal user, podshift checks that user's own rootless Podman.
  as_root bash scripts/provision-engines.sh --rootless-user "$(id -un)"
fi

if [ ! -x .venv/bin/tox ]; then
  echo "dev.sh: creating .venv with tox"
  python3 -m venv .venv
  .venv/bin/pip install --quiet --upgrade pip
  .venv/bin/pip install --quiet 'tox>=4.11,<5'
fi

case "$job" in
  readiness) exec .venv/bin/tox -e readiness -- "$@" ;;
  tests)
    export PODSHIFT_ROOTLESS_USER=$TEST_USER
    PODSHIFT_REQUIRE_ENGINES=${PODSHIFT_REQUIRE_ENGINES:-1} exec .venv/bin/tox -e lint,type,tests -- "$@" ;;
esac
