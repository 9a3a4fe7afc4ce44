"""Watchdog alarms (services/controller/watchdogs.py) raised by a controller driving the
simulated boards through a real pty and a real broker, hours simulated in seconds:

* a fermenter told a new setpoint is left alone while it cools there; once reached, a
  compressor that stops cooling on a warm day raises `fermenter-band` after the
  fermenter's default 30 min outside ± 1 °C, saying where, since when and how warm;
* the simulated iSpindel going quiet raises `fermenter-silent-ispindel` after three of
  its (learned) 15-minute reports are missed, and its return clears it;
* a mash step waiting for the brewer's confirmation raises `kettle-stuck` after the
  kettle's 30 min, cleared once the brewer confirms; a step whose target cannot be
  reached (the element too weak) raises it too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from services.common.config import Config
from services.common.schema.config import (
    AlarmThresholds,
    Device,
    IoRef,
    MqttLink,
    Profile,
    ProfileStep,
    Sensor,
    StepCondition,
)
from services.common.schema.watchdogs import Watchdogs
from services.controller.devices.serial_board import BoardTiming
from services.controller.options import Timing
from tests.controller.support import (
    DAYS_OF_READINGS,
    HOUR,
    SimRun,
    eventually,
    fermenter_device,
    fermenter_loop,
    kettle_device,
    kettle_loop,
    publish_config,
    sim_controller,
)
from tests.support.probe import MqttProbe

KETTLE_EVERY_10_S = Timing(
    supervise_s=10.0,
    publish_every_s=60.0,
    sim_interval_s=10.0,
    board=BoardTiming(refresh_s=10.0, lost_after_s=60.0, watchdog_s=60),
)
"""The kettle read every 10 s (a real board: every second), so hours of mash take seconds."""


def alarm_payload(probe: MqttProbe, alarm_id: str) -> list[dict[str, object]]:
    topic = f"maelstrom/alarms/{alarm_id}"
    return [json.loads(m.payload) for m in probe.messages if m.topic == topic and m.payload]


async def published(probe: MqttProbe, alarm_id: str, state: str) -> dict[str, object]:
    """The record on the broker, as the UI and the API get it."""
    return await eventually(
        lambda: next(
            (a for a in reversed(alarm_payload(probe, alarm_id)) if a["state"] == state), None
        ),
        what=f"{alarm_id} {state} on the broker",
    )


async def test_band_alarm_only_once_the_setpoint_was_reached(
    config: Config, probe: MqttProbe
) -> None:
    probe.subscribe("maelstrom/alarms/#")
    async with sim_controller(config, DAYS_OF_READINGS) as run:
        publish_config(probe, fermenter_device())
        publish_config(probe, fermenter_loop(alarms=AlarmThresholds(stale_after_s=300)))
        await run.running("fermenter")
        loop, sim = run.loop("fermenter"), run.sim("sim-fermenter")
        await run.advance(HOUR)  # the beer starts at the room's 20 °C: inside 19 ± 1
        assert abs(loop.pv - 19.0) < 1.0, loop.pv
        probe.publish("maelstrom/cmd/loops/fermenter/setpoint", "16")  # a cooler rest
        await eventually(lambda: loop.sp == 16.0, what="the new setpoint")
        # Hours outside the band on the way down: planned, no alarm.
        took = await run.advance_until(lambda: abs(loop.pv - 16.0) <= 1.0, 12 * HOUR, step=600)
        print(f"reached the band of 16 °C after {took / HOUR:.1f} h")
        assert took > 30 * 60  # long enough that an unarmed band would have barked
        assert "fermenter-band" not in run.ctl.alarms.records

        # A summer afternoon, and the compressor has lost its gas: it runs, nothing cools.
        sim.plant.p.cooling_w = 0.0
        sim.plant.p.ambient_c = 30.0
        await run.advance_until(lambda: loop.pv > 17.0, 12 * HOUR, step=60)
        left = run.clock.now()
        alarms = run.ctl.alarms
        await run.advance_until(lambda: alarms.is_active("fermenter-band"), 2 * HOUR, step=60)
        after = run.clock.now() - left
        print(f"band alarm {after / 60:.0f} min after the beer left the band")
        assert 30 * 60 <= after <= 30 * 60 + 5 * 60  # 30 min, within a few readings
        alarm = await published(probe, "fermenter-band", "active")
        assert alarm["kind"] == "band" and alarm["source"] == "fermenter"
        assert alarm["severity"] == "medium"
        message = str(alarm["message"])
        assert message.startswith("Fermenter: 1"), message  # where, and the value now
        assert "above the setpoint 16.0 °C (band ± 1 °C) since 20" in message, message
        assert re.search(r"for 3\d min", message), message
        assert loop.state(run.clock.now()).alarms.count("fermenter-band") == 1

        # The compressor repaired: back inside the band, the alarm clears.
        sim.plant.p.cooling_w = 100.0
        sim.plant.p.ambient_c = 20.0
        await run.advance_until(lambda: not alarms.is_active("fermenter-band"), 12 * HOUR, step=60)
        assert abs(loop.pv - 16.0) <= 0.8
        await published(probe, "fermenter-band", "cleared")


def ispindel_device() -> Device:
    """The simulated fermenter's iSpindel, as a brewer adds a real one (its own
    offline limit at 3 h: the watchdog speaks long before)."""
    return Device(
        id="ispindel",
        name="iSpindel",
        kind="mqtt",
        mqtt=MqttLink(preset="ispindel", name="sim-fermenter", stale_after_s=3 * HOUR),
        sensors=[Sensor(id="gravity", unit="SG"), Sensor(id="battery", unit="V")],
    )


class Hydrometer:
    """The simulated iSpindel and what the controller heard of it. Its reports travel
    through the real broker, so simulated time waits for each to arrive (else a loaded
    machine lets simulated minutes pass while one is in flight, which is silence)."""

    def __init__(self, run: SimRun) -> None:
        self.run = run
        driver = run.ctl.registry.simulated("sim-fermenter")
        assert driver is not None and driver.hydrometer is not None
        self.sim = driver.hydrometer
        self.heard = 0
        run.ctl.registry.sensor("ispindel", "gravity").subscribe(self._on_reading)

    def _on_reading(self, point: object) -> None:
        self.heard += 1

    async def advance(self, seconds: float, until: Callable[[], bool] = lambda: False) -> None:
        end = self.run.clock.monotonic() + seconds
        while self.run.clock.monotonic() < end and not until():
            sent = self.sim.sent
            await self.run.advance(60)
            if self.sim.sent != sent:
                await eventually(lambda: self.heard >= self.sim.sent, what="the report")


async def test_a_silent_hydrometer_is_an_alarm_after_three_missed_reports(
    config: Config, probe: MqttProbe
) -> None:
    probe.subscribe("maelstrom/alarms/#")
    async with sim_controller(config, DAYS_OF_READINGS) as run:
        publish_config(probe, fermenter_device())
        publish_config(probe, ispindel_device())
        publish_config(
            probe,
            fermenter_loop(
                gravity=IoRef(device="ispindel", id="gravity"),
                alarms=AlarmThresholds(stale_after_s=300),
            ),
        )
        await run.running("fermenter")
        hydrometer = Hydrometer(run)
        gravity = run.ctl.registry.sensor("ispindel", "gravity")
        await run.advance_until(lambda: gravity.value is not None, HOUR, step=60)
        hydrometer.heard = hydrometer.sim.sent
        await hydrometer.advance(2 * HOUR)  # eight reports: its 15 minutes are learned
        assert "fermenter-silent-ispindel" not in run.ctl.alarms.records
        probe.publish("maelstrom/cmd/devices/sim-fermenter/simulate", {"hydrometer": "silent"})
        await eventually(lambda: hydrometer.sim.mode == "silent", what="the iSpindel going quiet")
        sent = run.ctl.registry.sensor("ispindel", "gravity").ts  # its last report
        alarms = run.ctl.alarms
        await hydrometer.advance(2 * HOUR, lambda: alarms.is_active("fermenter-silent-ispindel"))
        quiet = run.clock.monotonic() - sent
        print(f"silent alarm after {quiet / 60:.0f} min without a report")
        assert 45 * 60 < quiet <= 45 * 60 + 2 * 60  # a supervisor cycle and a step late
        alarm = await published(probe, "fermenter-silent-ispindel", "active")
        assert alarm["kind"] == "silent" and alarm["source"] == "fermenter"
        message = str(alarm["message"])
        assert message.startswith("Fermenter: hydrometer iSpindel (ispindel) silent since 20")
        assert "(usually every 15 min); last gravity 1.0" in message, message
        assert "ispindel-offline" not in alarms.records  # its own 3 h limit is still far

        probe.publish("maelstrom/cmd/devices/sim-fermenter/simulate", {"hydrometer": "normal"})
        await eventually(lambda: hydrometer.sim.mode == "normal", what="the iSpindel back")
        await hydrometer.advance(HOUR, lambda: not alarms.is_active("fermenter-silent-ispindel"))
        assert not alarms.is_active("fermenter-silent-ispindel")
        await published(probe, "fermenter-silent-ispindel", "cleared")


async def test_a_step_that_cannot_advance_is_an_alarm(config: Config, probe: MqttProbe) -> None:
    probe.subscribe("maelstrom/alarms/#")
    profile = Profile(
        id="doughin",
        kind="mash",
        steps=[
            ProfileStep(
                name="Strike",
                temperature=40,
                until=StepCondition(type="confirm", prompt="Add the grain, then confirm"),
            ),
            ProfileStep(name="Beta rest", temperature=66, hold_s=600),
        ],
    )
    async with sim_controller(config, KETTLE_EVERY_10_S) as run:
        publish_config(probe, kettle_device())
        publish_config(probe, profile)
        # the reach watchdog a little sooner than the kettle's 90 min, for a short test
        publish_config(
            probe,
            kettle_loop(
                alarms=AlarmThresholds(stale_after_s=60), watchdogs=Watchdogs(step_reach_s=1200)
            ),
        )
        await run.running("kettle")
        loop, sim = run.loop("kettle"), run.sim("sim-kettle")
        probe.publish(
            "maelstrom/cmd/loops/kettle/profile", {"action": "start", "profile": "doughin"}
        )
        await eventually(lambda: loop.cfg.mode == "profile", what="profile mode")
        await run.advance_until(lambda: loop.cfg.profile.waiting_since is not None, HOUR, step=10)
        waiting_since = loop.cfg.profile.waiting_since
        alarms = run.ctl.alarms
        await run.advance_until(lambda: alarms.is_active("kettle-stuck"), HOUR, step=10)
        waited = run.clock.now() - waiting_since
        assert 30 * 60 <= waited <= 30 * 60 + 30
        message = str((await published(probe, "kettle-stuck", "active"))["message"])
        assert message.startswith(
            "Kettle: step 'Strike' cannot advance: Add the grain, then confirm since 20"
        ), message
        assert "(expected within 30 min); now 40." in message or "now 39." in message, message

        # The brewer confirms, but the element has failed to a trickle: 66 °C never comes.
        sim.plant.p.element_w = 300.0
        probe.publish("maelstrom/cmd/loops/kettle/profile", "confirm")
        await eventually(lambda: loop.cfg.profile.step == 1, what="the rest after confirming")
        await run.advance_until(lambda: not alarms.is_active("kettle-stuck"), 60, step=10)
        started = loop.cfg.profile.step_started_at
        await run.advance_until(lambda: alarms.is_active("kettle-stuck"), HOUR, step=10)
        took = run.clock.now() - started
        assert 20 * 60 <= took <= 20 * 60 + 30
        message = alarms.records["kettle-stuck"].message
        assert message.startswith("Kettle: step 'Beta rest' has not reached 66 °C since"), message
        assert "(expected within 20 min)" in message, message
