#!/usr/bin/env bash
# `with-mqtt-credentials.sh <service> <command…>`: runs the command with the service's own
# broker credentials (made once by scripts/broker_auth.py, data/mosquitto/<service>.env);
# a variable already in the environment wins (MAELSTROM_MQTT_URL: another broker). The API's file also
# carries the login of the bridge it mounts (MAELSTROM_BRIDGE_MQTT_URL, user `bridge`) and,
# like the controller's, the configuration key (MAELSTROM_CONFIG_KEY; docs/security.md).
set -eu
service=$1
shift
file="data/mosquitto/$service.env"
given_broker=${MAELSTROM_MQTT_URL:-}
if [ -f "$file" ]; then
  # What the environment already says wins, name by name; with another broker given, the
  # logins made for ours do not apply (the configuration key still does).
  while IFS= read -r line || [ -n "$line" ]; do
    name=${line%%=*}
    case "$name" in MAELSTROM_[A-Z_]*) ;; *) continue ;; esac
    if [ -n "$given_broker" ] && [ "$name" = MAELSTROM_BRIDGE_MQTT_URL ]; then continue; fi
    if [ -n "${!name:-}" ]; then continue; fi
    export "$name=${line#*=}"
  done <"$file"
fi
exec "$@"
