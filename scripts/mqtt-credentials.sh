# Sourced by the Procfile: a service's own broker credentials (made once by
# scripts/broker_auth.py), unless MAELSTROM_MQTT_URL was given explicitly.
if [ -z "${MAELSTROM_MQTT_URL:-}" ] && [ -f "data/mosquitto/$1.env" ]; then
  set -a
  . "data/mosquitto/$1.env"
  set +a
fi
