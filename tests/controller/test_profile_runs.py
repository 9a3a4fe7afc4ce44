"""Whole loops on simulated boards, through a real pty and a real broker, in simulated time.

* A 10-day ale profile (18 °C for 3 days, ramp to 21 °C over a day, hold 3 days,
  cold crash to 2 °C), started with an MQTT command, tracked within TOLERANCE_C.
* A kettle mash step 65 → 72 °C: how long it takes against the physical limit,
  and the overshoot.

The simulated board reads every 60 s (a real one: every second) so ten days fit
in well under a minute; the control code is the same.
"""

from __future__ import annotations

import itertools
import json
import math

import pytest

from services.common.config import Config
from services.common.schema.config import AlarmThresholds, CompressorProtection
from services.controller.sim.physics import KettleParams
from tests.controller.support import (
    DAY,
    DAYS_OF_READINGS,
    HOUR,
    ale_profile,
    fermenter_device,
    fermenter_loop,
    kettle_device,
    kettle_loop,
    publish_config,
    sim_controller,
)
from tests.support.probe import MqttProbe, received

TOLERANCE_C = 0.5
"""Beer within this of the profile while it holds or ramps (measured: see docs/control.md)."""

LONG_RUN = DAYS_OF_READINGS
COOLER = 2


def segment_error(samples: list[tuple[float, float, float]], start: float, end: float) -> float:
    errors = [abs(pv - sp) for t, pv, sp in samples if start <= t < end]
    assert errors, f"no samples between {start} and {end}"
    return max(errors)


@pytest.mark.slow
async def test_a_ten_day_ale_profile_tracks_within_tolerance(
    config: Config, probe: MqttProbe
) -> None:
    probe.subscribe("maelstrom/data/fermenter")
    async with sim_controller(config, LONG_RUN) as run:
        publish_config(probe, fermenter_device())
        publish_config(probe, ale_profile())
        publish_config(
            probe,
            fermenter_loop(
                mode="constant",
                setpoint=18.0,
                window_s=120.0,  # a relay-switched heater
                alarms=AlarmThresholds(stale_after_s=300),
            ),
        )
        await run.running("fermenter")
        mark = probe.mark()
        probe.publish(
            "maelstrom/cmd/loops/fermenter/profile", {"action": "start", "profile": "ale"}
        )
        await received(
            probe,
            "maelstrom/data/fermenter",
            lambda m: json.loads(m.payload)["mode"] == "profile",
            since=mark,
        )
        started = run.clock.now()
        sim, loop = run.sim("sim-fermenter"), run.loop("fermenter")
        samples: list[tuple[float, float, float]] = []
        while run.clock.now() - started < 10 * DAY:
            await run.advance(600.0)
            samples.append((run.clock.now() - started, sim.plant.beer, loop.sp))

        # Pitched at 20 °C: the first hours pull the beer down to 18 °C.
        holds = {
            "hold 18 °C": segment_error(samples, 12 * HOUR, 3 * DAY),
            "ramp to 21 °C": segment_error(samples, 3 * DAY, 4 * DAY),
            "hold 21 °C": segment_error(samples, 4 * DAY, 7 * DAY),
            "hold 2 °C": segment_error(samples, 8 * DAY, 10 * DAY),
        }
        scored = [
            pv - sp
            for t, pv, sp in samples
            if t >= 12 * HOUR and not 7 * DAY <= t < 7 * DAY + 12 * HOUR
        ]
        rms = math.sqrt(sum(e * e for e in scored) / len(scored))
        print("max |beer − profile|:", {k: round(v, 3) for k, v in holds.items()})
        print(f"RMS {rms:.3f} °C")
        assert all(error <= TOLERANCE_C for error in holds.values()), holds
        crashed = next(t for t, pv, _ in samples if t > 7 * DAY and pv <= 2.0 + TOLERANCE_C)
        print(f"cold crash 21 → 2.5 °C took {(crashed - 7 * DAY) / HOUR:.1f} h")
        assert crashed - 7 * DAY < 16 * HOUR

        # the compressor's protection held all along, through the real serial link
        protection = CompressorProtection()
        cooler = [(t, on) for t, ch, on in sim.switches if ch == COOLER]
        for (t0, on0), (t1, _) in itertools.pairwise(cooler):
            limit = protection.min_on_s if on0 else protection.min_off_s
            assert t1 - t0 >= limit - 1e-6, (t0, on0, t1 - t0)
        state = await received(
            probe,
            "maelstrom/data/fermenter",
            lambda m: (json.loads(m.payload)["profile"] or {}).get("finished", False),
            since=mark,
        )
        assert json.loads(state.payload)["profile"]["profile"] == "ale"
        final = loop.state(run.clock.now())
        assert final.profile is not None and final.profile.finished
        assert final.sp == 2.0


async def test_a_kettle_mash_step_from_65_to_72(config: Config, probe: MqttProbe) -> None:
    probe.subscribe("maelstrom/data/kettle")
    async with sim_controller(config) as run:
        publish_config(probe, kettle_device())
        publish_config(probe, kettle_loop(mode="constant", setpoint=65.0))
        await run.running("kettle")
        sim = run.sim("sim-kettle")
        await run.advance_until(lambda: sim.plant.water >= 65.0, 2 * HOUR, step=10)
        await run.advance(20 * 60)  # the mash rest
        assert abs(sim.plant.water - 65.0) < 0.5
        probe.publish("maelstrom/cmd/loops/kettle/setpoint", "72")
        stepped = run.clock.now()
        took = await run.advance_until(lambda: sim.plant.water >= 72.0 - 0.1, HOUR, step=1)
        peak = sim.plant.water
        for _ in range(20 * 60):
            await run.advance(1)
            peak = max(peak, sim.plant.water)
        limit = KettleParams().time_to_heat(72.0 - 65.0)
        print(
            f"65 → 72 °C in {took:.0f} s (physical limit m·c·ΔT/P {limit:.0f} s), "
            f"overshoot {peak - 72.0:.2f} °C"
        )
        assert run.clock.now() - stepped > took
        assert took < 1.5 * limit
        assert peak - 72.0 < 1.0
        assert abs(sim.plant.water - 72.0) < 0.5
        assert math.isfinite(peak)
