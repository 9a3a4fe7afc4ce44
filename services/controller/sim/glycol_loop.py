"""Glycol fermenters and their chiller, controlled, in-process on a simulated clock.

Each fermenter's loop is the ordinary `LoopControl` with only a cooler — its glycol
valve, with no compressor constraints — and the chiller is `ChillerControl`. What
`closed_loop.py` is for one loop, this is for a glycol system: the tests and
`bench/bench_glycol.py` run it, days in a second.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from itertools import pairwise

from services.common.clock import SimClock
from services.common.schema.config import CompressorProtection, Loop
from services.controller.control.core import LoopControl
from services.controller.control.glycol import ChillerControl, ChillerSettings, FermenterDemand
from services.controller.devices.protocol import TEMP_SCALE, to_raw
from services.controller.sim.glycol import ChillerParams, GlycolSystem, JacketedFermenterParams

HOUR = 3600.0
VALVE = CompressorProtection(min_on_s=0.0, min_off_s=0.0, dead_time_s=0.0, window_s=120.0)
"""A glycol valve or pump: no compressor behind it, so short windows and no minimum times."""


def valve_loop(name: str, setpoint: float = 18.0) -> Loop:
    return Loop(
        id=name,
        sensor={"device": "glycol", "id": name},
        cooler={"device": "glycol", "id": f"{name}-valve"},
        mode="constant",
        setpoint=setpoint,
        compressor=VALVE,
    )


@dataclass
class GlycolTrace:
    times: list[float] = field(default_factory=list)  # s since the start
    beer: dict[str, list[float]] = field(default_factory=dict)  # the true temperature
    setpoints: dict[str, list[float]] = field(default_factory=dict)
    reservoir: list[float] = field(default_factory=list)
    reservoir_sp: list[float] = field(default_factory=list)
    compressor: list[tuple[float, bool]] = field(default_factory=list)  # (t, on) switches
    short_s: float = 0.0  # time with priority in force
    system: GlycolSystem | None = None

    def error(self, name: str, start: float, end: float = math.inf) -> tuple[float, float]:
        """(max |error|, RMS error) of a fermenter's beer between `start` and `end` s."""
        errors = [
            b - s
            for t, b, s in zip(self.times, self.beer[name], self.setpoints[name], strict=True)
            if start <= t < end
        ]
        return max(abs(e) for e in errors), math.sqrt(sum(e * e for e in errors) / len(errors))

    def periods(self, on: bool) -> list[float]:
        """How long each completed on (or off) period of the compressor lasted, s."""
        c = self.compressor
        return [b[0] - a[0] for a, b in pairwise(c) if a[1] == on]

    @property
    def starts(self) -> int:
        return sum(1 for _, on in self.compressor if on)


async def run_glycol(
    setpoints: Mapping[str, Callable[[float], float]],
    hours: float,
    *,
    clock: SimClock | None = None,
    priority: Mapping[str, int] | None = None,
    chiller: ChillerParams | None = None,
    settings: ChillerSettings | None = None,
    fermenter: JacketedFermenterParams | None = None,
    step_s: float = 5.0,
    seed: int = 1,
) -> GlycolTrace:
    """Fermenters named in `setpoints` (name → f(seconds) °C) on one chiller for `hours`;
    readings every `step_s` with DS18B20-like noise and 1/16 °C steps."""
    clock = clock or SimClock()
    t0 = clock.monotonic()
    names = list(setpoints)
    system = GlycolSystem.of(
        chiller or ChillerParams(), {n: fermenter or JacketedFermenterParams() for n in names}
    )
    loops = {n: LoopControl(valve_loop(n), t0) for n in names}
    control = ChillerControl(settings or ChillerSettings(), switched_at=t0)
    trace = GlycolTrace(
        beer={n: [] for n in names}, setpoints={n: [] for n in names}, system=system
    )
    valves = dict.fromkeys(names, False)
    on = False
    rng = random.Random(seed)
    while clock.monotonic() - t0 < hours * HOUR:
        now = clock.monotonic()
        t = now - t0
        demands = []
        for n in names:
            sp = setpoints[n](t)
            pv = to_raw(system.temperature(n) + rng.gauss(0.0, 0.02)) / TEMP_SCALE
            loops[n].sample(now, pv, sp)
            demands.append(
                FermenterDemand(n, sp, pv, loops[n].cool_duty, (priority or {}).get(n, 0))
            )
            trace.beer[n].append(system.fermenters[n].beer)
            trace.setpoints[n].append(sp)
        glycol = to_raw(system.glycol + rng.gauss(0.0, 0.02)) / TEMP_SCALE
        decision = control.update(now, glycol, demands)
        for n in names:
            if decision.granted[n]:
                valves[n] = loops[n].update(now).cool
            else:  # the glycol goes to a higher priority: this valve waits, integral kept
                loops[n].hold_off(now, "waiting for glycol")
                valves[n] = False
        if decision.compressor != on:
            on = decision.compressor
            trace.compressor.append((t, on))
        trace.short_s += step_s if decision.short else 0.0
        trace.times.append(t)
        trace.reservoir.append(system.glycol)
        trace.reservoir_sp.append(decision.reservoir_setpoint)
        system.advance(step_s, valves, on)
        await clock.advance(step_s)
    return trace
