#!/usr/bin/env bash
# Runs Mosquitto for `make run-all`. On Ctrl-C honcho signals every process at
# once; the broker waits a moment so the services can publish `offline` and
# disconnect cleanly before it goes, instead of the retained status going stale.
set -u
# With the credentials `make run-all` generated (scripts/broker_auth.py), its copy of
# broker/mosquitto.conf that names the password file and ACL; else the plain one.
conf=broker/mosquitto.conf
[ -f data/mosquitto/mosquitto.conf ] && conf=data/mosquitto/mosquitto.conf
"${MOSQUITTO:-mosquitto}" -c "$conf" &
broker=$!
stopping=0
stop() { stopping=1; sleep 3; kill -TERM "$broker" 2>/dev/null; }
trap stop TERM INT
wait "$broker"; status=$?
# `wait` returns early when a trapped signal arrives: wait for the broker itself.
while kill -0 "$broker" 2>/dev/null; do wait "$broker"; status=$?; done
[ "$stopping" = 1 ] && exit 0
exit "$status"
