"""Glycol in the live controller: four jacketed fermenters and their chiller on one
simulated board, through the real serial driver, pty and broker, in simulated time.

The chiller is a loop with a `chiller` section (its sensor the reservoir probe, its
cooler the compressor); each fermenter names it in `glycol.chiller`."""

from __future__ import annotations

import itertools
import json
import math
import re
from pathlib import Path
from typing import Any

from services.common.config import Config
from services.common.schema.config import Device, Loop
from services.controller.devices.serial_board import BoardTiming
from services.controller.options import Timing
from services.controller.sim.glycol import GLYCOL_FERMENTERS
from tests.controller.support import HOUR, publish_config, sim_controller
from tests.support.probe import MqttProbe, received
from tests.support.waiting import eventually

HOLD_BAND_C = 0.5
"""Every fermenter within ±0.5 °C of its setpoint while it holds (docs/control.md)."""
COMPRESSOR = 5
GLYCOL_READINGS = Timing(
    supervise_s=20.0,
    publish_every_s=100.0,
    sim_interval_s=20.0,
    board=BoardTiming(refresh_s=20.0, lost_after_s=100.0, watchdog_s=100),
)
"""A reading every 20 s (a real board: every second), so hours take seconds."""


DOC = Path(__file__).parents[2] / "docs" / "control.md"


def doc_example(first: str) -> dict[str, Any]:
    """The JSON block of docs/control.md's glycol section that starts with `first`."""
    text = DOC.read_text()
    block = re.search(r"```json\n(\{" + re.escape(first) + r".*?)```", text, re.S)
    assert block is not None, f"docs/control.md has no example starting {first}"
    return json.loads(block[1])


def glycol_device() -> Device:
    return Device.model_validate(doc_example('"id": "cellar"'))


def chiller_loop() -> Loop:
    return Loop.model_validate(doc_example('"id": "chiller"'))


CHILLER = chiller_loop().chiller
assert CHILLER is not None
MIN_ON_S, MIN_OFF_S = CHILLER.min_on_s, CHILLER.min_off_s


def glycol_fermenter(name: str, priority: int = 0) -> Loop:
    """The doc's fv2, as any of the four."""
    text = json.dumps(doc_example('"id": "fv2"')).replace("fv2", name).replace("FV2", name.upper())
    data = json.loads(text)
    data["glycol"]["priority"] = priority
    return Loop.model_validate(data)


async def test_a_cold_crash_on_one_of_four_glycol_fermenters_while_three_hold(
    config: Config, probe: MqttProbe
) -> None:
    probe.subscribe("maelstrom/data/chiller")
    async with sim_controller(config, GLYCOL_READINGS) as run:
        publish_config(probe, glycol_device())
        publish_config(probe, chiller_loop())
        for name in GLYCOL_FERMENTERS:
            publish_config(probe, glycol_fermenter(name, priority=1 if name == "fv2" else 0))
        await run.running(*GLYCOL_FERMENTERS)
        system = run.sim("cellar").plant.system
        start = run.clock.monotonic()
        samples: list[tuple[float, dict[str, float]]] = []
        waited: set[str] = set()  # whose valve ever waited for a higher priority

        async def hold(seconds: float) -> None:
            end = run.clock.monotonic() + seconds
            while run.clock.monotonic() < end:
                await run.advance(60.0)
                beer = {n: f.beer - run.loop(n).cfg.setpoint for n, f in system.fermenters.items()}
                samples.append((run.clock.monotonic() - start, beer))
                waited.update(n for n in GLYCOL_FERMENTERS if run.loop(n).glycol_wait)

        await hold(1 * HOUR)
        crash_at = run.clock.monotonic() - start
        mark = probe.mark()
        probe.publish("maelstrom/cmd/loops/fv2/setpoint", "2")
        await eventually(lambda: run.loop("fv2").cfg.setpoint == 2.0, what="the crash command")
        chiller = run.ctl.loops.chillers["chiller"]
        await run.advance_until(
            lambda: chiller.decision.reservoir_setpoint == -4.0, 120.0, step=20.0
        )
        cold = await received(
            probe,
            "maelstrom/data/chiller",
            lambda m: json.loads(m.payload)["chiller"]["reservoir_setpoint"] == -4.0,
            since=mark,
        )
        state = json.loads(cold.payload)
        assert state["sp"] == -4.0 and state["chiller"]["calling"] >= 1
        assert {d["loop"] for d in state["chiller"]["demand"]} == set(GLYCOL_FERMENTERS)
        while system.fermenters["fv2"].beer > 2.0 + 0.3:
            assert run.clock.monotonic() - start - crash_at < 7 * HOUR, "fv2 never got to 2 °C"
            await hold(600.0)
        arrived = run.clock.monotonic() - start
        await hold(1 * HOUR)
        alarms = dict(run.ctl.alarms.records)
        switches = [(t, on) for t, ch, on in run.sim("cellar").switches if ch == COMPRESSOR]

    def worst(name: str, since: float, until: float = math.inf) -> tuple[float, float]:
        errors = [e[name] for t, e in samples if since <= t < until]
        return max(map(abs, errors)), math.sqrt(sum(x * x for x in errors) / len(errors))

    holding = {n: worst(n, 0.5 * HOUR) for n in GLYCOL_FERMENTERS if n != "fv2"}
    crash = worst("fv2", arrived + 600.0)
    ons = [b - a for (a, on), (b, _) in itertools.pairwise(switches) if on]
    offs = [b - a for (a, on), (b, _) in itertools.pairwise(switches) if not on]
    print(
        "glycol in the controller: holding (max, RMS) °C",
        {n: (round(w, 3), round(r, 3)) for n, (w, r) in holding.items()},
        f"; fv2 18 → 2 °C in {(arrived - crash_at) / HOUR:.1f} h, then max {crash[0]:.3f} "
        f"RMS {crash[1]:.3f} °C; compressor {sum(on for _, on in switches)} starts, "
        f"shortest on {min(ons):.0f} s, off {min(offs):.0f} s; waited for glycol: {sorted(waited)}",
    )
    assert all(w <= HOLD_BAND_C for w, _ in holding.values()), holding
    assert worst("fv2", 0.5 * HOUR, crash_at)[0] <= HOLD_BAND_C
    assert crash[0] <= HOLD_BAND_C
    assert not [a for a in alarms.values() if a.state == "active"], alarms
    # while the crash drew the reservoir down, the glycol was short and fv2 came first
    assert waited and "fv2" not in waited, waited
    assert ons and offs
    assert min(ons) >= MIN_ON_S - 1e-6 and min(offs) >= MIN_OFF_S - 1e-6


async def test_a_failed_reservoir_probe_stops_the_chiller_with_an_alarm_naming_it(
    config: Config, probe: MqttProbe
) -> None:
    probe.subscribe("maelstrom/alarms/#")
    async with sim_controller(config, GLYCOL_READINGS) as run:
        publish_config(probe, glycol_device())
        publish_config(probe, chiller_loop())
        publish_config(probe, glycol_fermenter("fv1").model_copy(update={"setpoint": 2.0}))
        await run.running("fv1")
        board = run.sim("cellar")
        await run.advance_until(lambda: board.outputs[COMPRESSOR], 2 * HOUR, step=20.0)
        mark = probe.mark()
        probe.publish(
            "maelstrom/cmd/devices/cellar/simulate", {"sensor": "glycol", "fault": "missing"}
        )
        await eventually(lambda: board.sensor_faults.get("glycol") == "missing", what="the fault")
        await run.advance_until(lambda: not board.outputs[COMPRESSOR], 60.0, step=20.0)
        alarm = await received(
            probe,
            "maelstrom/alarms/chiller-sensor",
            lambda m: bool(m.payload) and json.loads(m.payload)["state"] == "active",
            since=mark,
        )
        assert "reservoir probe cellar/glycol" in json.loads(alarm.payload)["message"]
        state = run.ctl.loops.chillers["chiller"].state(run.clock.now())
        assert state.state == "fault" and state.chiller is not None
        assert not state.chiller.compressor
        (on_at, _, _), (off_at, _, _) = [s for s in board.switches if s[1] == COMPRESSOR][-2:]
        assert off_at - on_at < MIN_ON_S  # the failsafe is what cuts a minimum on time short
        # A compressor the board refuses to switch: loss of control, with an alarm.
        probe.publish(
            "maelstrom/cmd/devices/cellar/simulate", {"sensor": "glycol", "fault": "none"}
        )
        probe.publish(
            "maelstrom/cmd/devices/cellar/simulate", {"output": "compressor", "fault": "refused"}
        )
        await eventually(lambda: board.output_faults.get(COMPRESSOR) == "refused", what="refused")
        alarms = run.ctl.alarms.records
        await run.advance_until(lambda: "chiller-compressor" in alarms, 2 * HOUR, step=20.0)
        assert (
            "lost control of the compressor cellar/compressor"
            in alarms["chiller-compressor"].message
        )
