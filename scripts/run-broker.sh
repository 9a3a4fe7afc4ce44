#!/usr/bin/env bash
# Runs Mosquitto for `make run-all`. On Ctrl-C honcho signals every process at
# once; the broker waits a moment so the services can publish `offline` and
# disconnect cleanly before it goes, instead of the retained status going stale.
set -u
"${MOSQUITTO:-mosquitto}" -c broker/mosquitto.conf &
broker=$!
stopping=0
stop() { stopping=1; sleep 3; kill -TERM "$broker" 2>/dev/null; }
trap stop TERM INT
wait "$broker"; status=$?
# `wait` returns early when a trapped signal arrives: wait for the broker itself.
while kill -0 "$broker" 2>/dev/null; do wait "$broker"; status=$?; done
[ "$stopping" = 1 ] && exit 0
exit "$status"
