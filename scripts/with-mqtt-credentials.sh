#!/usr/bin/env bash
# `with-mqtt-credentials.sh <service> <command…>`: runs the command with the service's own
# broker credentials (made once by scripts/broker_auth.py, data/mosquitto/<service>.env),
# unless MAELSTROM_MQTT_URL was given explicitly (another broker, say). The API's file also
# carries the login of the bridge it mounts (MAELSTROM_BRIDGE_MQTT_URL, user `bridge`) and,
# like the controller's, the configuration key (MAELSTROM_CONFIG_KEY; docs/security.md).
set -eu
service=$1
shift
if [ -z "${MAELSTROM_MQTT_URL:-}" ] && [ -f "data/mosquitto/$service.env" ]; then
  set -a
  # shellcheck disable=SC1090
  . "data/mosquitto/$service.env"
  set +a
fi
exec "$@"
