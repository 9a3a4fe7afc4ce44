"""Run a controller against a physics model in-process, event by event, no I/O.

The benchmark compares controllers this way, and property tests use it to
check invariants over many random scenarios. The full system (pty, broker) is
exercised by the integration tests; this is the same control code, minus the
transport, so thousands of simulated days run in seconds.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from services.controller.devices.protocol import TEMP_SCALE, to_raw
from services.controller.sim.physics import Plant


class Thermostat(Protocol):
    """Anything that turns readings into relay states."""

    def on_reading(self, now: float, pv: float, setpoint: float) -> tuple[bool, bool, float | None]:
        """(heat, cool, when to call `on_time`) after a new reading."""
        ...

    def on_time(self, now: float) -> tuple[bool, bool, float | None]: ...


@dataclass
class Trace:
    """What happened, sampled at every reading."""

    times: list[float] = field(default_factory=list)
    pv: list[float] = field(default_factory=list)  # the true temperature, not the reading
    sp: list[float] = field(default_factory=list)
    heat: list[bool] = field(default_factory=list)
    cool: list[bool] = field(default_factory=list)
    switches: list[tuple[float, str, bool]] = field(default_factory=list)  # (t, output, on)


def run(
    plant: Plant,
    thermostat: Thermostat,
    setpoint: Callable[[float], float],
    duration: float,
    *,
    sensor: str,
    heater: str | None,
    cooler: str | None,
    period: float = 1.0,
    noise_c: float = 0.02,
    seed: int = 1,
    truth: Callable[[], float] | None = None,
    chamber: str | None = None,
) -> Trace:
    """Simulate `duration` seconds; readings every `period` s with DS18B20-like noise
    and 1/16 °C steps. The trace records `truth()` (default: the sensor without noise).
    `chamber`: a second probe read at the same times and passed to the thermostat as
    `on_reading(…, chamber=…)` (a cascade's chamber-air probe)."""
    rng = random.Random(seed)
    trace = Trace()
    on = {"heat": False, "cool": False}
    t = 0.0
    next_reading = 0.0
    timer: float | None = None
    while t < duration:
        nxt = min(next_reading, timer if timer is not None else math.inf)
        if nxt > t:
            plant.advance(nxt - t, {heater or "": on["heat"], cooler or "": on["cool"]})
            t = nxt
        if t >= next_reading:
            measured = plant.temperature(sensor)
            true = truth() if truth is not None else measured
            reading = to_raw(measured + rng.gauss(0.0, noise_c)) / TEMP_SCALE
            sp = setpoint(t)
            if chamber is None:
                heat, cool, timer = thermostat.on_reading(t, reading, sp)
            else:
                air = to_raw(plant.temperature(chamber) + rng.gauss(0.0, noise_c)) / TEMP_SCALE
                heat, cool, timer = thermostat.on_reading(t, reading, sp, chamber=air)  # type: ignore[call-arg]
            next_reading += period
            trace.times.append(t)
            trace.pv.append(true)
            trace.sp.append(sp)
            trace.heat.append(heat)
            trace.cool.append(cool)
        else:
            heat, cool, timer = thermostat.on_time(t)
        # record what switched off before what switched on: they happen in that order
        for name, state in sorted((("heat", heat), ("cool", cool)), key=lambda x: x[1]):
            if state != on[name]:
                on[name] = state
                trace.switches.append((t, name, state))
        if timer is not None and timer <= t:
            timer = None
    return trace
