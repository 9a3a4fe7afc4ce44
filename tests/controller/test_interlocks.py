"""Interlocks and the master contactor, end to end (docs/safety.md, FMEA rows 26–27).

A simulated kettle board on a pty behind the real serial driver, a real broker, the
controller on a simulated clock; the float switch is the board's input 8, the
contactor its output 3 (wired in series with the element in the simulation).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from services.common.config import Config
from services.common.schema.config import Actuator, DigitalInput, Interlock, IoRef
from tests.controller.support import (
    fermenter_device,
    fermenter_loop,
    kettle_device,
    kettle_loop,
    publish_config,
    sim_controller,
)
from tests.controller.test_protections import active, simulate
from tests.support.probe import MqttProbe, received

ELEMENT, CONTACTOR, FLOAT = 1, 3, 8
FLOAT_SWITCH = DigitalInput(id="float", name="Float switch", channel=FLOAT)
LIQUID_PRESENT = Interlock(device="sim-kettle", id="float", name="liquid present")


def state_of(m: Any) -> dict[str, Any]:
    return json.loads(m.payload)


async def test_an_open_float_switch_holds_the_element_off_and_says_which_interlock(
    config: Config, probe: MqttProbe
) -> None:
    probe.subscribe("maelstrom/#")
    async with sim_controller(config) as run:
        publish_config(probe, kettle_device(inputs=[FLOAT_SWITCH]))
        publish_config(
            probe, kettle_loop(mode="manual", manual_output=100.0, interlocks=[LIQUID_PRESENT])
        )
        await run.running("kettle")
        sim, loop = run.sim("sim-kettle"), run.loop("kettle")
        # the float switch reads "no liquid" (input low): the element may not fire
        await run.advance(5)
        assert not sim.outputs[ELEMENT]
        alarm = await received(probe, "maelstrom/alarms/kettle-interlock", active)
        assert "interlock liquid present (sim-kettle/float)" in state_of(alarm)["message"]
        assert state_of(alarm)["severity"] == "high"
        shown = await received(
            probe,
            "maelstrom/data/kettle",
            lambda m: (
                state_of(m)["interlocks"]
                == [{"input": "sim-kettle/float", "name": "liquid present", "satisfied": False}]
            ),
        )
        assert state_of(shown)["state"] == "fault" and state_of(shown)["output"]["heat"] == 0.0
        # water in: the element fires, the alarm clears (no latch: a lid closed again)
        await simulate(run, probe, "sim-kettle", {"input": FLOAT, "level": True})
        await run.advance_until(lambda: sim.outputs[ELEMENT], 5, step=0.5)
        await received(
            probe,
            "maelstrom/alarms/kettle-interlock",
            lambda m: bool(m.payload) and state_of(m)["state"] == "cleared",
        )
        # the level drops while heating: off within one reading
        await simulate(run, probe, "sim-kettle", {"input": FLOAT, "level": False})
        await run.advance_until(lambda: not sim.outputs[ELEMENT], 2, step=0.25)
        assert "liquid present" in (loop.held or "")
        # a board that goes offline leaves the level unknown: still off, said so
        sim.set_input(FLOAT, True)
        await run.advance_until(lambda: sim.outputs[ELEMENT], 5, step=0.5)
        sim.set_mode("silent")
        await run.advance(15)
        assert not sim.outputs[ELEMENT] and "level unknown" in (loop.held or "")
        assert loop.state(run.clock.now()).interlocks[0].satisfied is None


async def test_the_master_contactor_drops_on_a_trip_cutting_a_welded_element_and_every_loop_on_it(
    config: Config, probe: MqttProbe
) -> None:
    probe.subscribe("maelstrom/#")
    contactor = IoRef(device="sim-kettle", id="contactor")
    async with sim_controller(config) as run:
        kettle = kettle_device()
        kettle.actuators.append(Actuator(id="contactor", name="Contactor", channel=CONTACTOR))
        publish_config(probe, kettle)
        publish_config(probe, fermenter_device())
        publish_config(probe, kettle_loop(mode="off", contactor=contactor))
        # a second loop fed by the same contactor (a shared panel): heating
        publish_config(probe, fermenter_loop(cooler=None, setpoint=30.0, contactor=contactor))
        await run.running("kettle", "fermenter")
        sim, fsim = run.sim("sim-kettle"), run.sim("sim-fermenter")
        kettle_rt, fermenter_rt = run.loop("kettle"), run.loop("fermenter")
        # energised while a loop needs power (the fermenter heats)
        await run.advance_until(lambda: sim.outputs[CONTACTOR] and fsim.outputs[1], 30)
        await run.advance(run.ctl.options.timing.publish_every_s + 1)
        await received(
            probe, "maelstrom/data/kettle", lambda m: state_of(m)["relays"].get("contactor")
        )
        # the kettle idles at 20 °C; its element welds: the runaway trips...
        probe.publish("maelstrom/cmd/loops/kettle/mode", "constant")
        probe.publish("maelstrom/cmd/loops/kettle/setpoint", "20")
        await run.advance_until(lambda: kettle_rt.cfg.mode == "constant", 10)
        await simulate(run, probe, "sim-kettle", {"output": "element", "fault": "stuck_on"})
        await run.advance_until(lambda: kettle_rt.guard.tripped, 600, step=2.0)
        await run.advance(2)
        # ...and the contactor drops: the welded element is cut off, the other loop held off
        assert not sim.outputs[CONTACTOR]
        assert not fsim.outputs[1]
        assert "master contactor sim-kettle/contactor open" in (fermenter_rt.held or "")
        assert fermenter_rt.state(run.clock.now()).state == "fault"
        assert sim.output_faults[ELEMENT] == "stuck_on"  # still welded...
        await run.advance(300)
        # ...but no longer fed: what reaches the water decays to nothing
        assert sim.plant.element_heat < 0.02 * sim.plant.p.element_w
        # the brewer clears the welded relay and acknowledges: every loop on it resumes
        await simulate(run, probe, "sim-kettle", {"output": "element", "fault": "none"})
        probe.publish("maelstrom/alarms/kettle-protection/ack", {"by": "brewer"})
        await run.advance_until(lambda: sim.outputs[CONTACTOR] and fsim.outputs[1], 30)
        assert fermenter_rt.held is None


def test_the_master_contactor_is_neither_the_heater_nor_the_cooler() -> None:
    with pytest.raises(ValidationError, match="master contactor must be its own actuator"):
        kettle_loop(contactor=IoRef(device="sim-kettle", id="element"))
