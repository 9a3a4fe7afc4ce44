"""Wall-clock steps under libfaketime, end to end (docs/safety.md, FMEA row 10).

The real controller process (`python -m services.controller`) runs with Debian's
libfaketime preloaded: its wall clock (`time.time()`, CLOCK_REALTIME) is whatever
the test writes into a file, read on every call, while CLOCK_MONOTONIC stays the
kernel's — as when NTP or fake-hwclock steps a Pi's clock. A simulated fermenter
board on a pty, a real broker. The wall clock jumps an hour forward between a
compressor stop and the next demand, then an hour back before the probe dies:
the minimum off time and the staleness must not move.
"""

from __future__ import annotations

import glob
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from services.common.schema.config import AlarmThresholds, CompressorProtection, Protections
from tests.controller.support import fermenter_device, fermenter_loop, publish_config
from tests.support.broker import Broker
from tests.support.probe import MqttProbe
from tests.support.services import Service, service_env

LIBFAKETIME = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))
MIN_OFF_S = 4.0
STALE_AFTER_S = 3.0

pytestmark = pytest.mark.skipif(
    not LIBFAKETIME,
    reason="libfaketime is not installed (Debian's libfaketime: scripts/install-system-deps.sh)",
)


def state(m: Any) -> dict[str, Any]:
    return json.loads(m.payload)


@pytest.fixture
def controller(broker: Broker, probe: MqttProbe, tmp_path: Path) -> Iterator[tuple[Service, Path]]:
    offset = tmp_path / "faketime"
    offset.write_text("+0\n")
    env = service_env(
        broker.url,
        LD_PRELOAD=LIBFAKETIME[0],
        FAKETIME_TIMESTAMP_FILE=str(offset),
        FAKETIME_NO_CACHE="1",  # read the offset on every call: a step takes effect at once
        FAKETIME_DONT_FAKE_MONOTONIC="1",  # NTP steps CLOCK_REALTIME only
    )
    service = Service("services.controller", env, tmp_path / "controller.log")
    yield service, offset
    service.stop()


def test_wall_clock_steps_under_libfaketime_move_neither_minimum_off_nor_staleness(
    probe: MqttProbe, controller: tuple[Service, Path]
) -> None:
    service, offset = controller
    probe.subscribe("maelstrom/#")
    publish_config(probe, fermenter_device())
    publish_config(
        probe,
        fermenter_loop(
            heater=None,
            setpoint=2.0,  # the beer is at 20 °C: full cooling, the compressor runs on
            compressor=CompressorProtection(min_on_s=1, min_off_s=MIN_OFF_S, dead_time_s=0),
            alarms=AlarmThresholds(stale_after_s=STALE_AFTER_S),
            protections=Protections(fault_free_s=0, glitch_s=0),
        ),
    )
    cooling = lambda m: state(m)["relays"].get("cooler") is True  # noqa: E731
    probe.wait_for("maelstrom/data/fermenter", cooling, timeout=30)
    try:
        # the compressor stops; the wall clock jumps an hour ahead (fake-hwclock catching
        # up); cooling is asked for again at once
        mark = probe.mark()
        probe.publish("maelstrom/cmd/loops/fermenter/mode", "off")
        probe.wait_for(
            "maelstrom/data/fermenter", lambda m: state(m)["relays"]["cooler"] is False, 10, mark
        )
        stopped = time.monotonic()
        offset.write_text("+3600\n")
        mark = probe.mark()
        probe.publish("maelstrom/cmd/loops/fermenter/mode", "constant")
        held = probe.wait_for("maelstrom/data/fermenter", since=mark)
        assert state(held)["waiting_reason"] == "cooler: minimum off time"
        probe.wait_for("maelstrom/data/fermenter", cooling, 15, mark)
        # (seen through the broker and the board's acknowledgements, up to ±2 s late on a
        # loaded machine; a wall-clock timer restarted it at once)
        assert time.monotonic() - stopped >= MIN_OFF_S - 2.0, "the minimum off time was cut short"
        probe.wait_for(
            "maelstrom/logs/controller",
            lambda m: b"wall clock stepped by +3600 s" in m.payload,
            10,
            mark,
        )

        # back an hour; then the probe dies (the board falls silent): its last reading
        # must go stale after STALE_AFTER_S, not an hour later
        offset.write_text("+0\n")
        mark = probe.mark()
        probe.publish("maelstrom/cmd/devices/sim-fermenter/simulate", {"board": "silent"})
        silenced = time.monotonic()
        faulted = probe.wait_for(
            "maelstrom/data/fermenter", lambda m: state(m)["state"] == "fault", 10, mark
        )
        assert "stale" in state(faulted)["waiting_reason"]
        assert state(faulted)["output"]["cool"] == 0.0
        assert time.monotonic() - silenced < STALE_AFTER_S + 4.0
        probe.wait_for(
            "maelstrom/logs/controller",
            lambda m: b"wall clock stepped by -3600 s" in m.payload,
            10,
            mark,
        )
    except TimeoutError:
        print(service.output()[-3000:])
        raise
