#!/usr/bin/env bash
# Installs what Maelstrom needs from Debian's packages, only when it is missing.
#   scripts/install-system-deps.sh            Mosquitto, libfaketime (and python3-venv if needed)
#   scripts/install-system-deps.sh --browser  also Chromium, for the browser tests
#   scripts/install-system-deps.sh --firmware also the AVR toolchain, arduino-mk and
#                                             simavr, to build and run devices/arduino
#   scripts/install-system-deps.sh --bench    also wrk, the HTTP load generator of
#                                             `make bench BENCH=api`
set -euo pipefail

want=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

have mosquitto || want+=(mosquitto)
have mosquitto_pub || want+=(mosquitto-clients)
python3 -c 'import venv, ensurepip' 2>/dev/null || want+=(python3-venv)
# The wall-clock-step test runs the controller under libfaketime (tests/controller/test_faketime.py).
installed libfaketime || want+=(libfaketime)
for flag in "$@"; do
    case "$flag" in
        --browser)
            have chromium || [ -x /usr/bin/chromium ] || want+=(chromium)
            ;;
        --firmware)
            # The sketch's build (arduino-mk + Arduino core + avr-gcc) and the simavr
            # board the tests run it on (a small C program against libsimavr).
            for pkg in arduino-core-avr arduino-mk gcc-avr avr-libc binutils-avr \
                       libsimavr-dev gcc make; do
                installed "$pkg" || want+=("$pkg")
            done
            ;;
        --bench)
            have wrk || want+=(wrk)
            ;;
        *)
            echo "usage: $0 [--browser] [--firmware] [--bench]" >&2
            exit 2
            ;;
    esac
done
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
