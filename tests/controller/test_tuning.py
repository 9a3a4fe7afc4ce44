"""An autotune run on a real loop: the `autotune` command over the broker, a simulated
kettle on a pty, the controller on a simulated clock. The run is safe by construction:
a protection that trips ends it at once, outputs off, and the loop says why."""

from __future__ import annotations

import json
from dataclasses import replace
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from services.common.config import Config
from services.common.schema.config import AlarmThresholds, PidSettings
from tests.controller.support import (
    DAY,
    DAYS_OF_READINGS,
    HOUR,
    fermenter_device,
    fermenter_loop,
    kettle_device,
    kettle_loop,
    publish_config,
    sim_controller,
)
from tests.controller.test_autotune import GAIN_TOLERANCE, LAG_TOLERANCE, fermenter, reference
from tests.controller.test_protections import ELEMENT, simulate
from tests.support.probe import MqttProbe, received

AUTOTUNE = "maelstrom/cmd/loops/kettle/autotune"
FERMENTER_AUTOTUNE = "maelstrom/cmd/loops/fermenter/autotune"
HEATER, COOLER = 1, 2  # the simulated fermenter board's channels
EVERY_TWO_MINUTES = replace(DAYS_OF_READINGS, sim_interval_s=120.0)
"""A day of a fermenter's relay run in few readings: its half-cycles last hours."""


def autotune(phase: str) -> Any:
    def seen(m: Any) -> bool:
        run = json.loads(m.payload).get("autotune") if m.payload else None
        return run is not None and run["phase"] == phase

    return seen


async def test_a_protection_trip_aborts_autotune_and_the_outputs_stay_off(
    config: Config, probe: MqttProbe
) -> None:
    probe.subscribe("maelstrom/#")
    async with sim_controller(config) as run:
        publish_config(probe, kettle_device())
        publish_config(probe, kettle_loop(mode="constant", setpoint=20.5))  # the water: 20 °C
        await run.running("kettle")
        sim, loop = run.sim("sim-kettle"), run.loop("kettle")
        # A wide bound, so that the protection, not the run's own bound, is what ends it.
        probe.publish(AUTOTUNE, {"action": "start", "max_deviation_c": 5.0})
        await run.advance_until(lambda: loop.tuning.running, 10, step=0.5)
        running = await received(probe, "maelstrom/data/kettle", autotune("running"))
        assert json.loads(running.payload)["autotune"]["output"] == "heat"
        await run.advance_until(lambda: sim.outputs[ELEMENT], 30)  # the relay heats
        await run.advance_until(lambda: not sim.outputs[ELEMENT], 300)  # …past the band: off
        await simulate(run, probe, "sim-kettle", {"output": "element", "fault": "stuck_on"})
        await run.advance_until(lambda: loop.guard.tripped, 600, step=2.0)
        aborted = await received(probe, "maelstrom/data/kettle", autotune("aborted"))
        state = json.loads(aborted.payload)
        assert state["autotune"]["reason"].startswith("protection: ")
        assert state["autotune"]["proposal"] is None
        assert state["state"] == "fault" and state["output"]["heat"] == 0.0
        assert not loop.tuning.running


async def test_autotune_through_the_pty_refuses_cold_water_then_identifies_the_kettle(
    config: Config, probe: MqttProbe, tmp_path: Path
) -> None:
    probe.subscribe("maelstrom/#")
    state = str(tmp_path / "controller-state.json")
    async with sim_controller(config, state_path=state) as run:
        publish_config(probe, kettle_device())
        publish_config(probe, kettle_loop(mode="constant", setpoint=65.0))
        await run.running("kettle")
        sim, loop = run.sim("sim-kettle"), run.loop("kettle")
        mark = probe.mark()  # cold water, 45 °C to go: no relay around 65 °C from here
        probe.publish(AUTOTUNE, "start")
        refused = await received(
            probe,
            "maelstrom/data/kettle",
            lambda m: (json.loads(m.payload).get("last_error") or {}).get("command") == "autotune",
            since=mark,
        )
        assert "let the loop settle first" in json.loads(refused.payload)["last_error"]["message"]
        assert loop.tuning.status is None
        kettle = sim.plant  # hot strike water, as a brewer fills it: no 30 min heat-up
        kettle.water = kettle.probe = 65.0
        kettle.element_heat = kettle.p.loss_w_per_k * (65.0 - kettle.p.ambient_c)
        await run.advance(20)
        probe.publish(AUTOTUNE, {"action": "start", "cycles": 2})
        await run.advance_until(lambda: loop.tuning.status is not None, 10, step=0.5)
        await run.advance_until(lambda: not loop.tuning.running, 3600, step=20.0)
        done = await received(probe, "maelstrom/data/kettle", autotune("done"))
        result = json.loads(done.payload)["autotune"]
        true_gain = kettle.p.element_w / kettle.p.water_j_per_k / 100  # °C/s per %
        assert abs(result["plant"]["gain"] / true_gain - 1) < 0.15, result
        assert 10 < result["plant"]["dead_time_s"] + result["plant"]["time_constant_s"] < 45
        q = result["proposal"]
        # The brewer applies it: the loop's `pid` (configuration) becomes the proposal.
        publish_config(
            probe,
            kettle_loop(
                mode="constant", setpoint=65.0, pid=PidSettings(kp=q["kp"], ki=q["ki"], kd=q["kd"])
            ),
        )
        applied = await received(
            probe,
            "maelstrom/data/kettle",
            lambda m: bool((json.loads(m.payload).get("autotune") or {}).get("applied")),
        )
        assert json.loads(applied.payload)["autotune"]["proposal"] == q
        stopped_at = run.clock.now()
    # A restart: the identified plant is kept on the controller's disk, published again on
    # the loop's retained state, and the loop card (which reads that state) shows it.
    mark = probe.mark()
    async with sim_controller(config, state_path=state, start=stopped_at + 60) as run:
        await run.running("kettle")
        kept = await received(probe, "maelstrom/data/kettle", autotune("done"), since=mark)
        after = json.loads(kept.payload)["autotune"]
        assert after["plant"] == result["plant"] and after["proposal"] == q
        assert after["applied"]


async def test_autotune_through_the_pty_identifies_the_fermenter_and_spares_its_compressor(
    config: Config, probe: MqttProbe
) -> None:
    """The cooler's relay run on the simulated fermenter board, through the pty and the
    broker, a reading every two minutes: the compressor's minimum on and off times hold
    all along (the relay goes through the loop's actuators), and the gain is the
    simulator's."""
    probe.subscribe("maelstrom/#")
    async with sim_controller(config, EVERY_TWO_MINUTES) as run:
        publish_config(probe, fermenter_device())
        publish_config(
            probe,
            fermenter_loop(
                mode="constant", setpoint=18.0, alarms=AlarmThresholds(stale_after_s=300)
            ),
        )
        await run.running("fermenter")
        sim, loop = run.sim("sim-fermenter"), run.loop("fermenter")
        # The offline test's plant (test_autotune.FERMENTER): a steady room and no yeast,
        # so the truth is its reference; the beer, the chamber and the evaporator at 18 °C.
        plant = sim.plant
        plant.p.ambient_swing_c, plant.p.yeast_peak_w = 0.0, 0.0
        plant.beer = plant.air = plant.evaporator = 18.0
        await run.advance(120)
        probe.publish(FERMENTER_AUTOTUNE, {"action": "start", "output": "cool", "cycles": 2})
        await run.advance_until(lambda: loop.tuning.status is not None, 300, step=60.0)
        assert loop.tuning.running
        await run.advance_until(lambda: not loop.tuning.running, 2 * DAY, step=1800.0)
        relay = loop.tuning.run
        started, ended = relay.started_at, relay.ups[-1]  # the run's own span, on its clock
        done = await received(probe, "maelstrom/data/fermenter", autotune("done"))
        result = json.loads(done.payload)["autotune"]
        truth = reference(fermenter, "beer", "cooler", -1.0, span=3 * HOUR, dt=10.0)
        print(
            f"fermenter via the pty: {result['plant']}, true {truth}, {(ended - started) / HOUR:.1f} h"
        )
        identified = result["plant"]
        assert identified["gain"] == pytest.approx(truth.gain, rel=GAIN_TOLERANCE)
        lags = identified["dead_time_s"] + identified["time_constant_s"]
        assert lags == pytest.approx(truth.total_lag_s, rel=LAG_TOLERANCE)
        assert result["proposal"] is not None and result["proposal"]["kp"] > 0
        # the compressor's protection held through the relay run, on the board's own record
        c = loop.configured.compressor
        cool = [(t, on) for t, ch, on in sim.switches if ch == COOLER and started <= t <= ended]
        assert len(cool) >= 4
        assert not any(ch == HEATER and on and started <= t <= ended for t, ch, on in sim.switches)
        for (t0, on), (t1, _) in pairwise(cool):
            assert t1 - t0 >= (c.min_on_s if on else c.min_off_s) - 1e-6, (t0, on, t1 - t0)
