"""Protections outside the PID, end to end (docs/safety.md, the FMEA's rows).

Real serial driver, a simulated board on a pty with its faults injected through the
contract's `simulate` payloads, a real broker, the controller on a simulated clock.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from services.common.clock import SimClock
from services.common.config import Config
from services.common.schema.config import Protections
from services.controller.app import running_controller
from services.controller.options import Options
from tests.controller.support import (
    SimRun,
    eventually,
    fermenter_device,
    fermenter_loop,
    kettle_device,
    kettle_loop,
    publish_config,
    sim_controller,
)
from tests.support.broker import Broker
from tests.support.probe import MqttProbe, received

ELEMENT = 1
COOLER = 2
SIMULATE = "maelstrom/cmd/devices/{}/simulate"


def active(m: Any) -> bool:
    return bool(m.payload) and json.loads(m.payload)["state"] == "active"


async def simulate(run: Any, probe: MqttProbe, device: str, payload: dict[str, Any]) -> None:
    mark = probe.mark()
    probe.publish(SIMULATE.format(device), payload)
    await received(
        probe, "maelstrom/logs/controller", lambda m: b"simulation on" in m.payload, mark
    )


async def test_a_probe_in_air_trips_heating_without_rise_before_the_water_boils(
    config: Config, probe: MqttProbe
) -> None:
    probe.subscribe("maelstrom/#")
    async with sim_controller(config) as run:
        publish_config(probe, kettle_device())
        publish_config(probe, kettle_loop(mode="constant", setpoint=65.0))
        await run.running("kettle")
        sim, loop = run.sim("sim-kettle"), run.loop("kettle")
        await run.advance_until(lambda: sim.outputs[ELEMENT], 30)
        await simulate(run, probe, "sim-kettle", {"sensor": "water", "fault": "in_air"})
        took = await run.advance_until(lambda: loop.guard.tripped, 1200, step=5.0)
        assert took <= loop.cfg.protection_settings.no_rise_s + 30
        await run.advance(2)
        assert not sim.outputs[ELEMENT] and sim.plant.water < 95.0
        alarm = await received(probe, "maelstrom/alarms/kettle-protection", active)
        record = json.loads(alarm.payload)
        assert record["severity"] == "high" and "probe out of the liquid" in record["message"]
        state = await received(
            probe, "maelstrom/data/kettle", lambda m: json.loads(m.payload)["state"] == "fault"
        )
        assert json.loads(state.payload)["output"]["heat"] == 0.0
        # latched: the probe back in the water does not restart the element by itself
        await simulate(run, probe, "sim-kettle", {"sensor": "water", "fault": "none"})
        await run.advance(60)
        assert not sim.outputs[ELEMENT] and loop.guard.tripped
        # the brewer acknowledges the alarm: reset, heating resumes
        probe.publish("maelstrom/alarms/kettle-protection/ack", {"by": "brewer"})
        await run.advance_until(lambda: sim.outputs[ELEMENT], 30, step=0.5)
        assert loop.guard.tripped is None


async def test_a_welded_element_trips_within_minutes_naming_the_output(
    config: Config, probe: MqttProbe
) -> None:
    probe.subscribe("maelstrom/#")
    async with sim_controller(config) as run:
        publish_config(probe, kettle_device())
        publish_config(probe, kettle_loop(mode="constant", setpoint=20.0))  # at 20 °C: idle
        await run.running("kettle")
        sim, loop = run.sim("sim-kettle"), run.loop("kettle")
        await run.advance(90)
        await simulate(run, probe, "sim-kettle", {"output": "element", "fault": "stuck_on"})
        took = await run.advance_until(lambda: loop.guard.tripped, 600, step=2.0)
        assert took <= 240, "a stuck SSR is found within minutes"
        alarm = await received(probe, "maelstrom/alarms/kettle-protection", active)
        assert "heater sim-kettle/element off" in json.loads(alarm.payload)["message"]
        assert not sim.outputs[ELEMENT]  # told off (it stays energised: only hardware helps)


async def test_a_deaf_board_puts_the_loop_in_fault_within_the_bound(
    config: Config, probe: MqttProbe
) -> None:
    probe.subscribe("maelstrom/#")
    async with sim_controller(config) as run:
        publish_config(probe, kettle_device())
        publish_config(probe, kettle_loop(mode="constant", setpoint=72.0))
        await run.running("kettle")
        sim, loop = run.sim("sim-kettle"), run.loop("kettle")
        await run.advance_until(lambda: sim.outputs[ELEMENT], 30)
        await simulate(run, probe, "sim-kettle", {"board": "deaf"})
        refresh = run.ctl.options.timing.board.refresh_s
        took = await run.advance_until(lambda: loop.guard.tripped, 60, step=0.5)
        assert took <= 3 * refresh + 1.0
        assert "no acknowledgement" in (loop.guard.tripped or "")
        state = loop.state(run.clock.now())
        assert state.state == "fault" and state.output.heat == 0.0  # not "heating 100 %"
        alarm = await received(probe, "maelstrom/alarms/kettle-protection", active)
        assert (
            "lost control of the heater sim-kettle/element" in json.loads(alarm.payload)["message"]
        )
        # the board's own watchdog has the element off meanwhile
        await run.advance(sim.watchdog_s + 1)
        assert not sim.outputs[ELEMENT]


async def test_a_refused_output_is_loss_of_control(config: Config, probe: MqttProbe) -> None:
    probe.subscribe("maelstrom/#")
    async with sim_controller(config) as run:
        publish_config(probe, kettle_device())
        publish_config(probe, kettle_loop(mode="constant", setpoint=72.0))
        await run.running("kettle")
        loop = run.loop("kettle")
        await simulate(run, probe, "sim-kettle", {"output": "element", "fault": "refused"})
        await run.advance_until(lambda: loop.guard.tripped, 10, step=0.5)
        assert "refused" in (loop.guard.tripped or "")
        # acknowledging while the board still refuses does not reset it: a fresh alarm
        mark = probe.mark()
        probe.publish("maelstrom/alarms/kettle-protection/ack", {"by": "brewer"})
        again = await received(probe, "maelstrom/alarms/kettle-protection", active, since=mark)
        assert json.loads(again.payload)["acknowledged"] is False
        assert loop.guard.tripped


async def test_a_board_reset_while_cooling_keeps_the_compressor_off_for_its_minimum_off(
    config: Config, probe: MqttProbe
) -> None:
    probe.subscribe("maelstrom/#")
    async with sim_controller(config) as run:
        publish_config(probe, fermenter_device())
        publish_config(probe, fermenter_loop(setpoint=2.0))
        await run.running("fermenter")
        sim = run.sim("sim-fermenter")
        await run.advance_until(lambda: sim.outputs[COOLER], 400)
        await run.advance(200)
        await simulate(run, probe, "sim-fermenter", {"board": "reset"})
        await run.advance_until(lambda: not sim.outputs[COOLER], 2, step=0.25)
        reset_at = run.clock.monotonic()
        await run.advance_until(lambda: sim.outputs[COOLER], 1200, step=2.0)
        assert run.clock.monotonic() - reset_at >= fermenter_loop().compressor.min_off_s


async def test_a_single_bad_reading_does_not_stop_the_compressor(
    config: Config, probe: MqttProbe
) -> None:
    async with sim_controller(config) as run:
        publish_config(probe, fermenter_device())
        publish_config(probe, fermenter_loop(setpoint=2.0))
        await run.running("fermenter")
        sim = run.sim("sim-fermenter")
        await run.advance_until(lambda: sim.outputs[COOLER], 400)
        starts = run.loop("fermenter").control.cooler.starts
        for _ in range(5):  # a loose wire: one ERR every 23 s
            sim.set_sensor_fault("beer", "missing")
            await run.advance(1)
            sim.set_sensor_fault("beer", "none")
            await run.advance(22)
            assert sim.outputs[COOLER]
        assert run.loop("fermenter").control.cooler.starts == starts
        # a fault that persists beyond the ride-through does stop it
        sim.set_sensor_fault("beer", "missing")
        glitch = fermenter_loop().protection_settings.glitch_s
        await run.advance_until(lambda: not sim.outputs[COOLER], glitch + 5)


async def test_the_high_limit_cutout_latches_until_acknowledged_below_it(
    config: Config, probe: MqttProbe
) -> None:
    probe.subscribe("maelstrom/#")
    async with sim_controller(config) as run:
        publish_config(probe, kettle_device())
        publish_config(
            probe,
            kettle_loop(mode="manual", manual_output=100.0, protections=Protections(cutout_c=30.0)),
        )
        await run.running("kettle")
        sim, loop = run.sim("sim-kettle"), run.loop("kettle")
        await run.advance_until(lambda: loop.guard.tripped, 900, step=2.0)
        assert not sim.outputs[ELEMENT] and "cutout 30" in (loop.guard.tripped or "")
        assert sim.plant.probe < 31.0
        await received(probe, "maelstrom/alarms/kettle-protection", active)
        # acknowledged while still at the cutout: stays tripped
        probe.publish("maelstrom/alarms/kettle-protection/ack", {"by": "brewer"})
        await run.advance(5)
        assert loop.guard.tripped and not sim.outputs[ELEMENT]
        # the brewer raises the limit (mashing out) and acknowledges: the element returns
        publish_config(
            probe,
            kettle_loop(mode="manual", manual_output=100.0, protections=Protections(cutout_c=80.0)),
        )
        await eventually(lambda: loop.guard.settings.cutout_c == 80.0, what="new limit")
        await run.advance(1)
        probe.publish("maelstrom/alarms/kettle-protection/ack", {"by": "brewer"})
        await run.advance_until(lambda: sim.outputs[ELEMENT], 30, step=0.5)


async def test_a_failing_decision_switches_the_outputs_off_with_an_alarm(
    config: Config, probe: MqttProbe
) -> None:
    probe.subscribe("maelstrom/#")
    async with sim_controller(config) as run:
        publish_config(probe, kettle_device())
        publish_config(probe, kettle_loop(mode="constant", setpoint=72.0))
        await run.running("kettle")
        sim, loop = run.sim("sim-kettle"), run.loop("kettle")
        await run.advance_until(lambda: sim.outputs[ELEMENT], 30)

        def broken(now: float) -> Any:
            raise ZeroDivisionError("a bug")

        loop.control.update = broken  # a bug in the decision, however it got there
        await run.advance(2)
        assert not sim.outputs[ELEMENT]
        alarm = await received(probe, "maelstrom/alarms/kettle-error", active)
        assert "ZeroDivisionError" in json.loads(alarm.payload)["message"]


async def test_the_controller_refuses_an_unsafe_configuration_with_an_alarm(
    config: Config, probe: MqttProbe
) -> None:
    """Configuration arrives on an open topic: the controller re-validates it."""
    probe.subscribe("maelstrom/#")
    async with sim_controller(config) as run:
        publish_config(probe, fermenter_device())
        publish_config(probe, fermenter_loop())
        await run.running("fermenter")
        bad = {
            **fermenter_loop().model_dump(mode="json"),
            "heater": {"device": "sim-fermenter", "id": "cooler"},
        }
        probe.publish("maelstrom/config/loops/fermenter", bad, retain=True)
        alarm = await received(probe, "maelstrom/alarms/fermenter-config", active)
        assert "heater and the cooler must be different" in json.loads(alarm.payload)["message"]
        assert run.loop("fermenter").cfg.heater is not None
        assert run.loop("fermenter").cfg.heater.id == "heater"  # the last valid one stays


async def test_a_trip_stays_latched_across_a_controller_restart(
    config: Config, probe: MqttProbe, tmp_path: Any
) -> None:
    probe.subscribe("maelstrom/#")
    state = str(tmp_path / "controller-state.json")
    async with sim_controller(config, state_path=state) as run:
        publish_config(probe, kettle_device())
        publish_config(
            probe,
            kettle_loop(mode="manual", manual_output=100.0, protections=Protections(cutout_c=30.0)),
        )
        await run.running("kettle")
        loop = run.loop("kettle")
        await run.advance_until(lambda: loop.guard.tripped, 1200, step=5.0)
        await received(probe, "maelstrom/alarms/kettle-protection", active)
        stopped_at = run.clock.monotonic()
    # restarted (new simulated water, back at 20 °C): still tripped until acknowledged
    async with sim_controller(config, state_path=state, start=stopped_at) as run:
        await run.running("kettle")
        sim, loop = run.sim("sim-kettle"), run.loop("kettle")
        await run.advance(30)
        assert loop.guard.tripped is not None and "before a restart" in loop.guard.tripped
        assert not sim.outputs[ELEMENT]
        assert loop.state(run.clock.now()).state == "fault"
        probe.publish("maelstrom/alarms/kettle-protection/ack", {"by": "brewer"})
        await run.advance_until(lambda: sim.outputs[ELEMENT], 30, step=0.5)


async def test_a_trip_stays_latched_across_a_restart_with_the_broker_down(
    config: Config, probe: MqttProbe, broker: Broker, tmp_path: Any
) -> None:
    # No retained alarm to find: the controller's own disk keeps the trip.
    state = str(tmp_path / "controller-state.json")
    async with sim_controller(config, state_path=state) as run:
        publish_config(probe, kettle_device())
        publish_config(probe, kettle_loop(mode="manual", manual_output=100.0))
        await run.running("kettle")
        sim, loop = run.sim("sim-kettle"), run.loop("kettle")
        sim.set_output_fault(ELEMENT, "refused")
        await run.advance_until(lambda: loop.guard.tripped, 30, step=0.5)
        sim.set_output_fault(ELEMENT, "none")  # the cause is gone; the latch is not
        stopped_at = run.clock.monotonic()
    broker.stop()
    clock = SimClock(stopped_at)
    async with running_controller(config, Options(clock=clock, state_path=state)) as ctl:
        run = SimRun(ctl, clock)
        await eventually(lambda: "kettle" in ctl.loops.loops, what="the loop, from disk")
        sim, loop = run.sim("sim-kettle"), run.loop("kettle")
        await run.advance(30)
        assert loop.guard.tripped is not None and "before a restart" in loop.guard.tripped
        assert not sim.outputs[ELEMENT]
        broker.start()
        assert await ctl.mqtt.wait_connected(10)
        ctl.alarms.acknowledge(loop.guard.alarm_id, "brewer")
        await run.advance_until(lambda: sim.outputs[ELEMENT], 30, step=0.5)
    assert json.loads(Path(state).read_text())["body"]["trips"] == {}
