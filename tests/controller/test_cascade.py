"""Cascade control for fermenters: the beer loop sets the chamber-air setpoint within
its limits around the beer target, the chamber loop drives heater and cooler; without
a usable chamber reading the loop controls the beer directly; no bump either way.

The first tests drive `LoopControl` directly; the last runs the whole loop on a
simulated board through a real pty and a real broker, on the simulated clock, and
pulls the chamber probe out from under it."""

from __future__ import annotations

import json

import pytest

from services.common.config import Config
from services.common.schema.config import Cascade, IoRef, OutputSettings
from services.controller.control.core import LoopControl
from tests.controller.support import (
    fermenter_device,
    fermenter_loop,
    publish_config,
    sim_controller,
)
from tests.support.probe import MqttProbe, received

CHAMBER = IoRef(device="sim-fermenter", id="chamber")


def cascade_loop(**extra: object):  # type: ignore[no-untyped-def]
    return fermenter_loop(cascade=Cascade(chamber=CHAMBER, below_c=3.0, above_c=2.0), **extra)


def test_the_chamber_setpoint_stays_within_its_limits_around_the_beer_target() -> None:
    control = LoopControl(cascade_loop(), now=0.0)
    control.sample(0.0, pv=25.0, setpoint=18.0, chamber=20.0)  # beer far too warm
    assert control.chamber_sp == pytest.approx(18.0 - 3.0)
    assert control.output < 0  # the chamber air is warmer than asked: cool
    control = LoopControl(cascade_loop(), now=0.0)
    control.sample(0.0, pv=12.0, setpoint=18.0, chamber=15.0)  # beer far too cold
    assert control.chamber_sp == pytest.approx(18.0 + 2.0)
    assert control.output > 0


def test_losing_the_chamber_probe_falls_back_to_the_beer_without_a_bump() -> None:
    control = LoopControl(cascade_loop(), now=0.0)
    t = 0.0
    for _ in range(120):  # two hours of a warm beer, readings every minute
        control.sample(t, pv=18.6, setpoint=18.0, chamber=16.0)
        t += 60.0
    cascading = control.output
    assert control.cascading and control.chamber_sp is not None and cascading < 0

    control.sample(t, pv=18.6, setpoint=18.0, chamber=None)  # the probe failed
    assert not control.cascading and control.chamber_sp is None
    assert control.output == pytest.approx(cascading)  # bumpless: carries on from there
    for _ in range(30):
        t += 60.0
        control.sample(t, pv=18.6, setpoint=18.0, chamber=None)
    beer_only = control.output
    assert beer_only < 0  # still cooling the beer, on the beer probe alone

    t += 60.0
    control.sample(t, pv=18.6, setpoint=18.0, chamber=16.4)  # the probe is back
    assert control.cascading
    assert control.chamber_sp == pytest.approx(16.4)  # the new cascade starts from the air
    assert control.output == pytest.approx(beer_only, abs=0.5)


def test_manual_to_automatic_in_cascade_is_bumpless() -> None:
    control = LoopControl(cascade_loop(), now=0.0)
    control.manual(-40.0)
    control.sample(0.0, pv=18.2, setpoint=18.0, chamber=15.0)
    assert control.output == pytest.approx(-40.0)
    assert control.chamber_sp == pytest.approx(15.0)


def state_is(predicate):  # type: ignore[no-untyped-def]
    return lambda m: bool(m.payload) and predicate(json.loads(m.payload))


async def test_a_failed_chamber_probe_falls_back_to_beer_only_control_end_to_end(
    config: Config, probe: MqttProbe
) -> None:
    probe.subscribe("maelstrom/#")
    async with sim_controller(config) as run:
        publish_config(probe, fermenter_device())
        publish_config(
            probe,
            cascade_loop(
                setpoint=15.0,
                cooler_output=OutputSettings(type="compressor", min_off_s=180.0),
            ),
        )
        await run.running("fermenter")
        await run.advance(5.0)
        state = await received(
            probe, "maelstrom/data/fermenter", state_is(lambda s: s["chamber_sp"] is not None)
        )
        first = json.loads(state.payload)
        assert 12.0 <= first["chamber_sp"] <= 17.0  # within 3 below, 2 above the 15 °C target

        mark = probe.mark()
        probe.publish(
            "maelstrom/cmd/devices/sim-fermenter/simulate",
            {"sensor": "chamber", "fault": "missing"},
        )
        await received(probe, "maelstrom/logs/controller", lambda m: b"simulation" in m.payload)
        await run.advance(5.0)
        state = await received(
            probe,
            "maelstrom/data/fermenter",
            state_is(lambda s: s["chamber_sp"] is None),
            since=mark,
        )
        fallback = json.loads(state.payload)
        # still controlling the beer: not a fault, cooling as before, no beer-sensor alarm
        assert fallback["state"] in ("cooling", "waiting") and fallback["pv"] is not None
        assert fallback["output"]["cool"] > 0
        assert "fermenter-sensor" not in fallback["alarms"]

        mark = probe.mark()
        probe.publish(
            "maelstrom/cmd/devices/sim-fermenter/simulate", {"sensor": "chamber", "fault": "none"}
        )
        await run.advance(5.0)
        await received(
            probe,
            "maelstrom/data/fermenter",
            state_is(lambda s: s["chamber_sp"] is not None),
            since=mark,
        )
