#!/usr/bin/env bash
# Installs what Maelstrom needs from Debian's packages, only when it is missing.
#   scripts/install-system-deps.sh            Mosquitto (and python3-venv if needed)
#   scripts/install-system-deps.sh --browser  also Chromium, for the browser tests
set -euo pipefail

want=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }

have mosquitto || want+=(mosquitto)
have mosquitto_pub || want+=(mosquitto-clients)
python3 -c 'import venv, ensurepip' 2>/dev/null || want+=(python3-venv)
if [ "${1:-}" = "--browser" ]; then
    have chromium || [ -x /usr/bin/chromium ] || want+=(chromium)
fi
if ! have node || ! have npm; then
    want+=(nodejs npm)
fi

[ ${#want[@]} -eq 0 ] && exit 0

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "Installing from Debian's packages: ${want[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${want[@]}"

# Debian starts its own Mosquitto on :1883 after install; Maelstrom runs its own
# with broker/mosquitto.conf, so stop the packaged one if we just installed it.
if printf '%s\n' "${want[@]}" | grep -qx mosquitto && command -v systemctl >/dev/null 2>&1; then
    $SUDO systemctl disable --now mosquitto >/dev/null 2>&1 || true
fi
