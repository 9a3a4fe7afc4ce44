"""Failsafe, end to end: a simulated board on a real pty, a real broker, simulated time.

A reading that cannot be true (85.0, −127), a probe that disappears, or a board
that goes quiet turns the loop's outputs off within one control cycle and raises
the `<loop>-sensor` alarm; control resumes by itself once readings are sane.
"""

from __future__ import annotations

import json

import pytest

from services.common.config import Config
from tests.controller.support import (
    kettle_device,
    kettle_loop,
    publish_config,
    sim_controller,
)
from tests.support.probe import MqttProbe, received

ELEMENT = 1  # the kettle board's element channel


def state_is(predicate):  # type: ignore[no-untyped-def]
    return lambda m: bool(m.payload) and predicate(json.loads(m.payload))


async def heating_kettle(run, probe: MqttProbe) -> None:  # type: ignore[no-untyped-def]
    publish_config(probe, kettle_device())
    publish_config(probe, kettle_loop(mode="constant", setpoint=72.0))
    await run.running("kettle")
    await run.advance_until(lambda: run.sim("sim-kettle").outputs[ELEMENT], 30)


@pytest.mark.parametrize(
    ("fault", "why"),
    [
        ("85", "power-on reset (85.0)"),
        ("-127", "disconnected (-127)"),
        ("missing", "missing (the probe did not answer)"),
    ],
)
async def test_an_impossible_reading_turns_the_heater_off_within_one_cycle(
    config: Config, probe: MqttProbe, fault: str, why: str
) -> None:
    probe.subscribe("maelstrom/#")
    async with sim_controller(config) as run:
        await heating_kettle(run, probe)
        sim = run.sim("sim-kettle")
        mark = probe.mark()
        probe.publish(
            "maelstrom/cmd/devices/sim-kettle/simulate", {"sensor": "water", "fault": fault}
        )
        await run.running("kettle")
        await received(probe, "maelstrom/logs/controller", lambda m: b"simulation" in m.payload)
        injected = run.clock.now()
        await run.advance(run.ctl.options.timing.sim_interval_s)  # one reading, one cycle
        assert not sim.outputs[ELEMENT], "the element must be off one cycle after the fault"
        off_at = max(t for t, ch, on in sim.switches if ch == ELEMENT and not on)
        assert off_at - injected <= run.ctl.options.timing.sim_interval_s

        alarm = await received(
            probe,
            "maelstrom/alarms/kettle-sensor",
            state_is(lambda a: a["state"] == "active"),
            since=mark,
        )
        record = json.loads(alarm.payload)
        assert alarm.retain is False or record["kind"] == "sensor"
        assert record["kind"] == "sensor" and why in record["message"]
        state = await received(
            probe, "maelstrom/data/kettle", state_is(lambda s: s["state"] == "fault"), since=mark
        )
        assert json.loads(state.payload)["output"]["heat"] == 0.0
        assert json.loads(state.payload)["pv"] is None

        # healed: control resumes by itself, the alarm clears (and stays until acknowledged)
        mark = probe.mark()
        probe.publish(
            "maelstrom/cmd/devices/sim-kettle/simulate", {"sensor": "water", "fault": "none"}
        )
        await received(probe, "maelstrom/logs/controller", lambda m: b"none" in m.payload, mark)
        await run.advance_until(lambda: sim.outputs[ELEMENT], 30)
        await received(
            probe,
            "maelstrom/alarms/kettle-sensor",
            state_is(lambda a: a["state"] == "cleared" and not a["acknowledged"]),
            since=mark,
        )
        await received(
            probe, "maelstrom/data/kettle", state_is(lambda s: s["state"] == "heating"), mark
        )


async def test_a_silent_board_is_stale_and_offline_then_recovers(
    config: Config, probe: MqttProbe
) -> None:
    probe.subscribe("maelstrom/#")
    async with sim_controller(config) as run:
        await heating_kettle(run, probe)
        sim = run.sim("sim-kettle")
        mark = probe.mark()
        probe.publish("maelstrom/cmd/devices/sim-kettle/simulate", {"board": "silent"})
        await received(probe, "maelstrom/logs/controller", lambda m: b"silent" in m.payload, mark)
        # the board's own watchdog switches the element off when the host cannot reach it:
        # watchdog time after the last command it understood (≤ one refresh before)
        took = await run.advance_until(lambda: not sim.outputs[ELEMENT], 60)
        timing = run.ctl.options.timing
        assert took <= sim.watchdog_s + timing.board.refresh_s + timing.sim_interval_s
        await run.advance(40)
        for alarm_id in ("sim-kettle-offline", "kettle-sensor"):
            await received(
                probe,
                f"maelstrom/alarms/{alarm_id}",
                state_is(lambda a: a["state"] == "active"),
                since=mark,
            )
        await received(
            probe, "maelstrom/data/kettle", state_is(lambda s: s["state"] == "fault"), mark
        )
        reading = await received(
            probe,
            "maelstrom/data/sensors/sim-kettle/water",
            state_is(lambda r: r["value"] is None),
            since=mark,
        )
        assert json.loads(reading.payload)["error"] == "board offline"
        mark = probe.mark()
        probe.publish("maelstrom/cmd/devices/sim-kettle/simulate", {"board": "normal"})
        await received(probe, "maelstrom/logs/controller", lambda m: b"normal" in m.payload, mark)
        await run.advance_until(lambda: sim.outputs[ELEMENT], 120)
        await received(
            probe,
            "maelstrom/alarms/sim-kettle-offline",
            state_is(lambda a: a["state"] == "cleared"),
            since=mark,
        )


async def test_a_board_probe_is_checked_whatever_unit_is_configured(
    config: Config, probe: MqttProbe
) -> None:
    """Boards always report °C: a free-text unit must not switch the DS18B20 checks off."""
    probe.subscribe("maelstrom/#")
    async with sim_controller(config) as run:
        device = kettle_device()
        device.sensors[0] = device.sensors[0].model_copy(update={"unit": "celsius"})
        publish_config(probe, device)
        publish_config(probe, kettle_loop(mode="constant", setpoint=72.0))
        await run.running("kettle")
        sim = run.sim("sim-kettle")
        await run.advance_until(lambda: sim.outputs[ELEMENT], 30)
        mark = probe.mark()
        probe.publish(
            "maelstrom/cmd/devices/sim-kettle/simulate", {"sensor": "water", "fault": "-127"}
        )
        await received(probe, "maelstrom/logs/controller", lambda m: b"simulation" in m.payload)
        await run.advance(2 * run.ctl.options.timing.sim_interval_s)
        assert not sim.outputs[ELEMENT]
        state = await received(
            probe, "maelstrom/data/kettle", state_is(lambda s: s["state"] == "fault"), since=mark
        )
        assert json.loads(state.payload)["pv"] is None
        reading = await received(probe, "maelstrom/data/sensors/sim-kettle/water", since=mark)
        assert json.loads(reading.payload)["unit"] == "°C"
