#!/usr/bin/env bash
# Runs Mosquitto for `make run-all` (deploy/supervisord.conf). supervisord stops the
# services before the broker, so they can still publish `offline` as they go; the
# broker itself is the process supervisord watches (exec), so a broker that dies is
# seen and restarted at once. MAELSTROM_BROKER_CONF picks another configuration
# (the tests run the whole stack on their own ports).
set -eu
# With the credentials `make run-all` generated (scripts/broker_auth.py), its copy of
# broker/mosquitto.conf that names the password file and ACL; else the plain one.
default=broker/mosquitto.conf
[ -f data/mosquitto/mosquitto.conf ] && default=data/mosquitto/mosquitto.conf
exec "${MOSQUITTO:-mosquitto}" -c "${MAELSTROM_BROKER_CONF:-$default}"
