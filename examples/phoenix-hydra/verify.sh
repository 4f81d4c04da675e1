#!/bin/sh
# Check that every phoenix-hydra endpoint answers on 127.0.0.1 and that the
# api stores a record.  Ports follow the same PHOENIX_*_PORT variables as the
# compose file.  Exit 0 when all is well, 1 with the failing endpoint named.
set -u
api=${PHOENIX_API_PORT:-8000}; web=${PHOENIX_WEB_PORT:-3000}
gateway=${PHOENIX_GATEWAY_PORT:-8080}; worker=${PHOENIX_WORKER_PORT:-5000}
failed=0
get() { curl -fsS --max-time 5 "$1"; }
check() {
    if out=$(get "$2" 2>&1); then echo "ok    $1 ($2)"; else echo "FAIL  $1 ($2): $out"; failed=1; fi
}
check api     "http://127.0.0.1:$api/health"
check web     "http://127.0.0.1:$web/"
check gateway "http://127.0.0.1:$gateway/health"
check gateway-to-api "http://127.0.0.1:$gateway/cgi-bin/proxy/api/health"
check worker  "http://127.0.0.1:$worker/health"
marker="verify-$(date +%s)"
if curl -fsS --max-time 5 --data "$marker" "http://127.0.0.1:$api/cgi-bin/records" >/dev/null \
   && get "http://127.0.0.1:$api/cgi-bin/records" | grep -q "$marker"; then
    echo "ok    api stores a record"
else
    echo "FAIL  api did not store a record"; failed=1
fi
[ "$failed" -eq 0 ] && echo "verify: all endpoints answer" || echo "verify: FAILED"
exit "$failed"
