"""Glycol fermenters sharing one chiller, on the simulated clock: each fermenter's loop
drives its valve, the chiller follows their demand and protects its compressor."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from itertools import pairwise

from services.common.clock import SimClock
from services.common.schema.config import CompressorProtection, Loop
from services.controller.control.core import LoopControl
from services.controller.control.glycol import (
    ChillerControl,
    ChillerSettings,
    FermenterDemand,
)
from services.controller.devices.protocol import TEMP_SCALE, to_raw
from services.controller.sim.glycol import ChillerParams, GlycolSystem, JacketedFermenterParams

HOUR = 3600.0
STEP_S = 5.0
HOLD_BAND_C = 0.5
"""Both fermenters hold within ±0.5 °C of their setpoints once there."""
VALVE = CompressorProtection(min_on_s=0.0, min_off_s=0.0, dead_time_s=0.0, window_s=120.0)
"""A glycol valve: no compressor behind it, short windows."""


def valve_loop(name: str) -> Loop:
    return Loop(
        id=name,
        sensor={"device": "glycol", "id": name},
        cooler={"device": "glycol", "id": f"{name}-valve"},
        mode="constant",
        setpoint=18.0,
        compressor=VALVE,
    )


@dataclass
class Run:
    times: list[float] = field(default_factory=list)
    beer: dict[str, list[float]] = field(default_factory=dict)
    setpoints: dict[str, list[float]] = field(default_factory=dict)
    reservoir: list[float] = field(default_factory=list)
    reservoir_sp: list[float] = field(default_factory=list)
    compressor: list[tuple[float, bool]] = field(default_factory=list)  # switches
    system: GlycolSystem | None = None
    chiller: ChillerControl | None = None


async def simulate(
    setpoint: dict[str, object],
    hours: float,
    *,
    priority: dict[str, int] | None = None,
    chiller: ChillerParams | None = None,
) -> Run:
    """Fermenters named in `setpoint` (name → f(t) °C) on one chiller for `hours`."""
    clock = SimClock()
    t0 = clock.monotonic()
    names = list(setpoint)
    system = GlycolSystem.of(
        chiller or ChillerParams(), {n: JacketedFermenterParams() for n in names}
    )
    loops = {n: LoopControl(valve_loop(n), t0) for n in names}
    control = ChillerControl(ChillerSettings(), switched_at=t0)
    run = Run(
        beer={n: [] for n in names},
        setpoints={n: [] for n in names},
        system=system,
        chiller=control,
    )
    valves = {n: False for n in names}
    on = False
    rng = random.Random(1)
    while clock.monotonic() - t0 < hours * HOUR:
        now = clock.monotonic()
        t = now - t0
        demands = []
        for n in names:
            sp = setpoint[n](t)  # type: ignore[operator]
            pv = to_raw(system.temperature(n) + rng.gauss(0.0, 0.02)) / TEMP_SCALE  # a DS18B20
            loops[n].sample(now, pv, sp)
            demands.append(
                FermenterDemand(n, sp, pv, loops[n].cool_duty, (priority or {}).get(n, 0))
            )
            run.beer[n].append(system.fermenters[n].beer)
            run.setpoints[n].append(sp)
        decision = control.update(now, system.glycol, demands)
        for n in names:
            if decision.granted[n]:
                valves[n] = loops[n].update(now).cool
            else:
                loops[n].hold_off(now, "waiting for glycol")
                valves[n] = False
        if decision.compressor != on:
            on = decision.compressor
            run.compressor.append((t, on))
        run.times.append(t)
        run.reservoir.append(system.glycol)
        run.reservoir_sp.append(decision.reservoir_setpoint)
        system.advance(STEP_S, valves, on)
        await clock.advance(STEP_S)
    return run


def within(run: Run, name: str, start: float, end: float = math.inf) -> tuple[float, float]:
    """(max |error|, RMS error) of a fermenter's beer between `start` and `end` s."""
    errors = [
        b - s
        for t, b, s in zip(run.times, run.beer[name], run.setpoints[name], strict=True)
        if start <= t < end
    ]
    return max(abs(e) for e in errors), math.sqrt(sum(e * e for e in errors) / len(errors))


def intervals(switches: list[tuple[float, bool]], state: bool) -> list[float]:
    """How long each completed on (state True) or off period of the compressor lasted."""
    return [b[0] - a[0] for a, b in pairwise(switches) if a[1] == state]


async def test_a_cold_crash_on_one_fermenter_while_another_holds_on_one_chiller() -> None:
    crash_at = 6 * HOUR
    run = await simulate(
        {"fv1": lambda t: 18.0, "fv2": lambda t: 2.0 if t >= crash_at else 18.0}, hours=36
    )
    # fv1 holds 18 °C all along, the crash's −4 °C glycol included
    worst1, rms1 = within(run, "fv1", 1 * HOUR)
    # fv2 crashes, then holds 2 °C from the moment it got there
    arrived = next(
        t for t, b in zip(run.times, run.beer["fv2"], strict=True) if t > crash_at and b < 2.3
    )
    worst2, rms2 = within(run, "fv2", arrived)
    worst0, _ = within(run, "fv2", 1 * HOUR, crash_at)
    ons, offs = intervals(run.compressor, True), intervals(run.compressor, False)
    settings = ChillerSettings()
    starts = sum(1 for _, state in run.compressor if state)
    assert run.system is not None
    kwh = run.system.compressor_j / 3.6e6
    print(
        f"glycol: fv1 hold RMS {rms1:.3f} (max {worst1:.2f}) °C; fv2 crash 18 → 2 °C in "
        f"{(arrived - crash_at) / HOUR:.1f} h, then RMS {rms2:.3f} (max {worst2:.2f}) °C; "
        f"compressor {starts} starts, shortest on {min(ons):.0f} s, off {min(offs):.0f} s, "
        f"{kwh:.2f} kWh pumped out"
    )
    assert worst1 <= HOLD_BAND_C and worst0 <= HOLD_BAND_C and worst2 <= HOLD_BAND_C
    assert arrived - crash_at < 8 * HOUR
    assert min(offs) >= settings.min_off_s and min(ons) >= settings.min_on_s
    # the reservoir followed the demand: 12 °C while both held 18, the floor for the crash
    before = [
        sp for t, sp in zip(run.times, run.reservoir_sp, strict=True) if 2 * HOUR < t < crash_at
    ]
    during = [
        sp for t, sp in zip(run.times, run.reservoir_sp, strict=True) if crash_at < t < arrived
    ]
    assert (
        max(before) <= 18.0 - settings.idle_approach_c and min(before) >= 18.0 - settings.approach_c
    )
    assert set(during) == {settings.floor_c}


def test_short_glycol_goes_to_the_higher_priority_unless_another_is_far_off() -> None:
    control = ChillerControl(ChillerSettings(), switched_at=0.0)
    crash = FermenterDemand("fv1", 2.0, 10.0, 1.0, priority=1)
    holding = FermenterDemand("fv2", 18.0, 18.4, 0.3)
    drifting = FermenterDemand("fv3", 18.0, 20.0, 1.0)
    decision = control.update(1000.0, 8.0, [crash, holding, drifting])  # −4 °C asked, 8 °C there
    assert decision.short and decision.reservoir_setpoint == -4.0
    assert decision.granted == {"fv1": True, "fv2": False, "fv3": True}
    assert control.update(1010.0, -4.0, [crash, holding, drifting]).granted == dict.fromkeys(
        ("fv1", "fv2", "fv3"), True
    )
