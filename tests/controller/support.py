"""Builders and helpers for controller tests: the demo configuration, a controller
running in-process on a simulated clock, and waiting on what a user would see."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from services.common.clock import SimClock
from services.common.config import Config
from services.common.schema.config import (
    Actuator,
    AlarmThresholds,
    Device,
    IoRef,
    Loop,
    Profile,
    ProfilePoint,
    Sensor,
)
from services.controller.app import Controller, running_controller
from services.controller.devices.serial_board import BoardTiming
from services.controller.options import Options, Timing
from tests.support.probe import MqttProbe
from tests.support.waiting import eventually

DAY = 86_400.0
HOUR = 3_600.0

DAYS_OF_READINGS = Timing(
    supervise_s=60.0,
    publish_every_s=300.0,
    sim_interval_s=60.0,
    board=BoardTiming(refresh_s=60.0, lost_after_s=300.0, watchdog_s=300),
)
"""For runs of days: a reading a minute (a real board: every second), so days take seconds.
Loops on it need `alarms.stale_after_s` of 300."""


def fermenter_device(**extra: Any) -> Device:
    """The demo's simulated fermenter board, as the API seeds it."""
    return Device(
        id="sim-fermenter",
        name="Simulated fermenter",
        kind="simulated",
        simulation="fermenter",
        sensors=[Sensor(id="beer", name="Beer"), Sensor(id="chamber", name="Chamber")],
        actuators=[
            Actuator(id="heater", role="heater", channel=1),
            Actuator(id="cooler", role="cooler", channel=2),
        ],
        **extra,
    )


def kettle_device(**extra: Any) -> Device:
    return Device(
        id="sim-kettle",
        name="Simulated kettle",
        kind="simulated",
        simulation="kettle",
        sensors=[Sensor(id="water", name="Water")],
        actuators=[Actuator(id="element", role="heater", channel=1)],
        **extra,
    )


def fermenter_loop(**extra: Any) -> Loop:
    fields: dict[str, Any] = {
        "id": "fermenter",
        "name": "Fermenter",
        "kind": "fermenter",
        "sensor": IoRef(device="sim-fermenter", id="beer"),
        "heater": IoRef(device="sim-fermenter", id="heater"),
        "cooler": IoRef(device="sim-fermenter", id="cooler"),
        "mode": "constant",
        "setpoint": 19.0,
    }
    fields.update(extra)
    return Loop(**fields)


def kettle_loop(**extra: Any) -> Loop:
    fields: dict[str, Any] = {
        "id": "kettle",
        "name": "Kettle",
        "kind": "kettle",
        "sensor": IoRef(device="sim-kettle", id="water"),
        "heater": IoRef(device="sim-kettle", id="element"),
        "mode": "off",
        "setpoint": 65.0,
        "alarms": AlarmThresholds(stale_after_s=30.0),
    }
    fields.update(extra)
    return Loop(**fields)


def ale_profile() -> Profile:
    """18 °C for 3 days, ramp to 21 °C over a day, hold 3 days, cold crash to 2 °C."""
    points = [
        (0.0, 18.0),
        (3 * DAY, 18.0),
        (4 * DAY, 21.0),
        (7 * DAY, 21.0),
        (7 * DAY + 60, 2.0),
        (10 * DAY, 2.0),
    ]
    return Profile(
        id="ale",
        name="Ale, 10 days",
        points=[ProfilePoint(offset=o, temperature=t) for o, t in points],
    )


def publish_config(probe: MqttProbe, obj: Device | Loop | Profile) -> None:
    kind = {Device: "devices", Loop: "loops", Profile: "profiles"}[type(obj)]
    probe.publish(f"maelstrom/config/{kind}/{obj.id}", obj.model_dump(mode="json"), retain=True)


class SimRun:
    """A controller running in this process on a simulated clock."""

    def __init__(self, controller: Controller, clock: SimClock) -> None:
        self.ctl = controller
        self.clock = clock

    async def advance(self, seconds: float) -> None:
        await self.clock.advance(seconds, settle=self.ctl.settle)

    async def advance_until(
        self, predicate: Callable[[], Any], max_seconds: float, step: float = 1.0
    ) -> float:
        """Advance in `step`s until `predicate()` holds; returns the simulated seconds it took."""
        start = self.clock.monotonic()
        while not predicate():
            if self.clock.monotonic() - start >= max_seconds:
                raise AssertionError(f"not within {max_seconds:g} simulated seconds")
            await self.advance(step)
        return self.clock.monotonic() - start

    def sim(self, device_id: str) -> Any:
        driver = self.ctl.registry.simulated(device_id)
        assert driver is not None, f"{device_id} is not running"
        return driver.sim

    def loop(self, loop_id: str) -> Any:
        return self.ctl.loops.loops[loop_id]

    async def running(self, *loop_ids: str) -> None:
        """Wait until the controller runs these loops and their boards are online."""
        await eventually(lambda: all(i in self.ctl.loops.loops for i in loop_ids), what=loop_ids)
        wait = max(30.0, 3 * self.ctl.options.timing.sim_interval_s)
        for loop_id in loop_ids:
            point = self.loop(loop_id).point
            await self.advance_until(lambda p=point: p.good_at is not None, wait)


@contextlib.asynccontextmanager
async def sim_controller(
    config: Config, timing: Timing | None = None, seed: int = 1
) -> AsyncIterator[SimRun]:
    clock = SimClock()
    options = Options(clock=clock, timing=timing or Timing(), sim_seed=seed)
    async with running_controller(config, options) as ctl:
        assert await ctl.mqtt.wait_connected(10)
        yield SimRun(ctl, clock)
