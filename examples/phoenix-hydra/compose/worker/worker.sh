#!/bin/sh
# Runs as uid 999: serves its status on :5000 and keeps a private (0600)
# heartbeat and job counter in the worker-state volume.
umask 077
trap 'exit 0' TERM INT  # PID 1: without a handler TERM is ignored
httpd -p 5000 -h /www
count=$(cat /state/jobs 2>/dev/null || echo 0)
while :; do
    count=$((count + 1))
    echo "$count" >/state/jobs.tmp && mv /state/jobs.tmp /state/jobs
    date -u +%Y-%m-%dT%H:%M:%SZ >/state/heartbeat
    sleep 5 &
    wait $!
done
