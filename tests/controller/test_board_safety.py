"""What a serial board enforces by itself for the controller's loops, end to end: a
real broker, the real serial driver, a simulated board on a pty that behaves like
the firmware (docs/serial-protocol.md), the controller on a simulated clock."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from services.common.config import Config
from services.common.schema.config import Protections
from tests.controller.support import (
    fermenter_device,
    fermenter_loop,
    kettle_device,
    kettle_loop,
    publish_config,
    sim_controller,
)
from tests.support.probe import MqttProbe, received

ELEMENT = 1
HEATER, COOLER = 1, 2


def active(m: Any) -> bool:
    return bool(m.payload) and json.loads(m.payload)["state"] == "active"


async def test_the_brewer_sees_why_when_the_boards_own_high_limit_trips(
    config: Config, probe: MqttProbe
) -> None:
    """A host bug defeats the controller's own cutout: the board's limit still switches
    the element off, latched, and the alarm says so until the brewer acknowledges it."""
    probe.subscribe("maelstrom/#")
    async with sim_controller(config) as run:
        publish_config(probe, kettle_device())
        publish_config(
            probe,
            kettle_loop(mode="manual", manual_output=100.0, protections=Protections(cutout_c=30.0)),
        )
        await run.running("kettle")
        sim, loop = run.sim("sim-kettle"), run.loop("kettle")
        await run.advance_until(lambda: sim.outputs[ELEMENT], 30)
        # the controller told the board the cutout, on the water probe: 30 °C = 480/16
        limit = sim.guards[ELEMENT].limit
        assert (limit.sensor, limit.raw) == (0, 480)
        # the bug: the controller's own cutout no longer looks
        loop.guard.settings = loop.guard.settings.model_copy(update={"cutout_c": None})
        await run.advance_until(lambda: sim.guards[ELEMENT].tripped, 900, step=2.0)
        assert not sim.outputs[ELEMENT]
        alarm = await received(probe, "maelstrom/alarms/kettle-protection", active)
        record = json.loads(alarm.payload)
        assert record["severity"] == "high"
        assert record["message"] == (
            "Kettle: the board's own high limit switched the heater sim-kettle/element off: "
            "probe water read 30.0 °C, at or above its 30 °C limit; "
            "outputs off until this alarm is acknowledged"
        )
        state = await received(
            probe, "maelstrom/data/kettle", lambda m: json.loads(m.payload)["state"] == "fault"
        )
        assert json.loads(state.payload)["output"]["heat"] == 0.0
        # latched on both sides while the water cools, whatever the controller says
        await run.advance(60)
        assert not sim.outputs[ELEMENT] and loop.guard.tripped
        # the brewer raises the limit (mashing out) and acknowledges: the board's latch
        # is cleared too, and heating resumes
        publish_config(
            probe,
            kettle_loop(mode="manual", manual_output=100.0, protections=Protections(cutout_c=80.0)),
        )
        await run.advance_until(lambda: sim.guards[ELEMENT].limit.raw == 1280, 10)
        probe.publish("maelstrom/alarms/kettle-protection/ack", {"by": "brewer"})
        await run.advance_until(lambda: sim.outputs[ELEMENT], 30, step=0.5)
        assert sim.guards[ELEMENT].tripped is None and loop.guard.tripped is None


async def test_a_failing_probe_latches_the_boards_limit_until_it_reads_sane(
    config: Config, probe: MqttProbe
) -> None:
    """The probe restarts (a power dip: its 85.0 °C): the controller holds the element
    off itself; the board's latch backs it up, is told, and is released with the probe."""
    probe.subscribe("maelstrom/#")
    async with sim_controller(config) as run:
        publish_config(probe, kettle_device())
        publish_config(probe, kettle_loop(mode="manual", manual_output=100.0))
        await run.running("kettle")
        sim, loop = run.sim("sim-kettle"), run.loop("kettle")
        await run.advance_until(lambda: sim.outputs[ELEMENT], 30)
        sim.set_sensor_fault("water", "85")
        await run.advance_until(lambda: sim.guards[ELEMENT].tripped, 10)
        alarm = await received(probe, "maelstrom/alarms/sim-kettle-limit", active)
        assert json.loads(alarm.payload)["message"] == (
            "Board Simulated kettle holds element off: probe water failed 3 readings in a row "
            "(the probe restarted: its power-on 85.0 °C); released once the probe reads sane "
            "again"
        )
        sim.set_sensor_fault("water", "none")
        await run.advance_until(lambda: sim.outputs[ELEMENT], 30)
        assert sim.guards[ELEMENT].tripped is None and loop.guard.tripped is None


async def test_a_silent_host_leaves_the_fermenter_to_the_boards_fallback_and_says_so(
    config: Config, probe: MqttProbe
) -> None:
    probe.subscribe("maelstrom/#")
    async with sim_controller(config) as run:
        publish_config(probe, fermenter_device())
        publish_config(probe, fermenter_loop(setpoint=15.0, board_fallback=True))
        await run.running("fermenter")
        sim = run.sim("sim-fermenter")
        await run.advance_until(lambda: sim.guards[COOLER].fallback is not None, 5)
        fallback = sim.guards[COOLER].fallback
        assert (fallback.cools, fallback.setpoint, fallback.differential) == (True, 240, 8)
        assert fallback.min_off_s == 300  # the compressor's minimum off
        assert sim.guards[HEATER].limit.raw == 640  # the fermenter's 40 °C cutout
        # the board stops hearing the controller (as if it hung): its watchdog fires and
        # the fallback thermostat keeps cooling; the brewer is told
        sim.set_mode("deaf")
        await run.advance_until(lambda: sim.in_fallback, 20)
        alarm = await received(probe, "maelstrom/alarms/sim-fermenter-fallback", active)
        assert json.loads(alarm.payload)["message"] == (
            "Board Simulated fermenter stopped hearing the controller: "
            "its own fallback thermostat holds the outputs until it hears it again"
        )
        await run.advance_until(lambda: sim.outputs[COOLER], 400, step=5.0)
        # the controller is heard again: the board hands control back
        sim.set_mode("normal")
        await run.advance_until(lambda: not sim.in_fallback, 10)
        cleared = await received(
            probe,
            "maelstrom/alarms/sim-fermenter-fallback",
            lambda m: json.loads(m.payload)["state"] != "active",
        )
        assert json.loads(cleared.payload)["acknowledged"] is False  # still there to read


async def test_a_hung_loop_loses_its_outputs_while_the_other_loops_run(
    config: Config, probe: MqttProbe, caplog: pytest.LogCaptureFixture
) -> None:
    probe.subscribe("maelstrom/#")
    async with sim_controller(config) as run:
        publish_config(probe, kettle_device())
        publish_config(probe, fermenter_device())
        publish_config(probe, kettle_loop(mode="manual", manual_output=100.0))
        publish_config(probe, fermenter_loop(mode="manual", manual_output=-100.0))
        await run.running("kettle", "fermenter")
        kettle, fermenter = run.sim("sim-kettle"), run.sim("sim-fermenter")
        await run.advance_until(lambda: kettle.outputs[ELEMENT] and fermenter.outputs[COOLER], 400)
        run.loop("kettle").decide = lambda sample: None  # its decision stalls for good
        with caplog.at_level(logging.WARNING):
            took = await run.advance_until(lambda: not kettle.outputs[ELEMENT], 120)
        heartbeat = run.loop("kettle").cfg.alarms.stale_after_s + 10.0
        assert took <= heartbeat + 10.0 + 2.0  # + the board's watchdog and a refresh
        assert "output 1 not renewed: the loop driving it has stopped deciding" in caplog.text
        assert fermenter.outputs[COOLER] and fermenter.watchdog_trips == 0


async def test_an_inverted_output_is_off_at_the_boards_hello(
    config: Config, probe: MqttProbe
) -> None:
    """Every hello takes the outputs off: for an active-low relay (inverted on the host)
    "off" is the pin high, and the board is told so."""
    async with sim_controller(config) as run:
        device = fermenter_device()
        wiring = [a.model_copy(update={"inverted": a.id == "cooler"}) for a in device.actuators]
        publish_config(probe, device.model_copy(update={"actuators": wiring}))
        publish_config(probe, fermenter_loop(mode="off"))
        await run.running("fermenter")
        sim = run.sim("sim-fermenter")
        await run.advance(5.0)
        assert sim.outputs[COOLER] and not sim.outputs[HEATER]  # both relays off
        sim.set_mode("reset")  # and after a reset
        await run.advance_until(lambda: sim.outputs[COOLER], 10.0)
        assert not sim.outputs[HEATER]
