"""Autotune's last step: rehearse candidate PID gains on the plant the run identified,
through the loop's own control code, and propose the one that steps and holds best.

SIMC's rule alone (`autotune.propose`) assumes a linear loop. A heat-only kettle is
not one: holding 65 °C takes 8 % of its element, so below that it has only the
room's losses to pull an overshoot back, and the PID's anti-windup holds the integral
while the output sits at 0 %. SIMC's fast integral (Ti = 4(τc + θ)) and full
derivative then overshoot a mash step and ride above the setpoint for a while (the
first proposal: 0.13 °C over and 0.046 °C RMS on the 30 L kettle, against the
hand-tuned defaults' 0.09 and 0.012). So the tuner tries a small family around SIMC
— a slower closed loop, a slower integral, less derivative — and, as one more
candidate, the gains the loop runs now, each on the identified model:

    dT/dt = gain · (x(t − dead_time) − bias)        lag · dx/dt = u − x

(`bias`: the run's average output, what holds the setpoint), through `LoopControl`
with the loop's windows, minimum times and output limits, read like a DS18B20
(1/16 °C steps, 0.02 °C noise, a fixed seed), taking over from `bias` as the loop
does when a run ends. The scenario: hold, a 2 °C step in the direction the tuned
output drives, hold again; a candidate's score is the worse of its overshoot and its
RMS over the last periods, each against the present gains'.
The lowest score wins, so on the model the proposal is never worse than what runs.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from services.common.schema.config import Loop, PidSettings
from services.controller.control.autotune import IdentifiedPlant, Proposal, Rule
from services.controller.control.core import LoopControl
from services.controller.sim import closed_loop

STEP_C = 2.0
"""The rehearsed setpoint step (a mash rest, a fermentation step)."""
HOLD_PERIODS, PERIODS, SCORED_PERIODS = 2, 12, 5
"""Hold for 2 of the run's oscillation periods, step, go on to 12; the hold is scored
over the last 5."""
LOAD_PCT, LOAD_PERIODS = 10.0, 10
"""Then the load changes: holding takes 10 % more of the tuned output (a warmer room,
yeast heat, a lid opened), scored over 10 more periods. A plant's holding output is
not the same at every setpoint, so an integral too slow to follow it would ride off
the setpoint for days on the real plant, however well it steps on the model."""
OVERSHOOT_FLOOR_C = 0.02
RMS_FLOOR_C = 0.005
"""Below these a difference is the probe's noise, not control."""
TAU_C_FACTORS = (1.5, 3.0, 5.0)
"""τc as multiples of θ: SIMC's "tight but robust" 1.5 θ, and two slower closed loops."""
INTEGRAL_FACTORS = (4.0, 16.0, 32.0)
"""Ti as multiples of τc + θ: SIMC's 4 (fast load rejection), and two slower integrals."""
DERIVATIVE_FACTORS = (0.25,)
"""Td as fractions of the lag: SIMC's full lag, and a quarter of it (the loop's
derivative is filtered over 60 s, longer than a kettle element's lag)."""


@dataclass
class IdentifiedModel:
    """The identified plant as a simulated one (`physics.Plant`), starting at rest at
    `start` with `bias` % holding it there; the tuned output is the loop's `output`."""

    plant: IdentifiedPlant
    bias: float
    start: float
    output: str  # "heater" or "cooler"
    load_at: float = math.inf
    load: float = 0.0  # from `load_at` on, holding takes `bias + load` %

    def __post_init__(self) -> None:
        self.y = self.start
        self.x = self.bias
        self.t = 0.0
        self._sent: deque[tuple[float, float]] = deque([(-math.inf, self.bias)])

    sensors = ("pv",)
    channels: ClassVar[Mapping[int, str]] = {1: "heater", 2: "cooler"}

    def advance(self, dt: float, on: Mapping[str, bool]) -> None:
        p = self.plant
        u = (100.0 if self.output == "heater" else -100.0) if on.get(self.output) else 0.0
        self._sent.append((self.t, u))
        steps = max(1, math.ceil(dt / max(1.0, min(p.lag_s, p.dead_time_s, 60.0) / 2)))
        h = dt / steps
        for _ in range(steps):
            while len(self._sent) > 1 and self._sent[1][0] <= self.t - p.dead_time_s:
                self._sent.popleft()
            delayed = self._sent[0][1]
            self.x = delayed if p.lag_s <= 0 else self.x + h * (delayed - self.x) / p.lag_s
            held = self.bias + (self.load if self.t >= self.load_at else 0.0)
            self.y += h * p.gain * (self.x - held)
            self.t += h

    def temperature(self, sensor: str) -> float:
        return self.y

    def room(self) -> float:
        return self.y


class _Pid:
    """The loop's control code with given gains (what `loop.py` runs, minus I/O), taking
    over from `bias` as the loop does when a run ends."""

    def __init__(self, loop: Loop, bias: float) -> None:
        self.control = LoopControl(loop, 0.0)
        self.control.manual(bias)

    def on_reading(self, now: float, pv: float, sp: float) -> tuple[bool, bool, float | None]:
        self.control.sample(now, pv, sp)
        d = self.control.update(now)
        return d.heat, d.cool, d.next_at

    def on_time(self, now: float) -> tuple[bool, bool, float | None]:
        d = self.control.update(now)
        return d.heat, d.cool, d.next_at


def simc_family(plant: IdentifiedPlant, window_s: float) -> list[PidSettings]:
    """SIMC (integrating process with a lag, series PID in the loop's parallel form) and
    its slower variants: every (τc, Ti, Td) of the factors above."""
    base = max(plant.dead_time_s + window_s / 2.0, 1.0)
    lag0 = plant.lag_s
    if lag0 < 2.0 * base:  # not worth a derivative: the lag counts as dead time (a PI)
        base, lag0 = base + lag0, 0.0
    family = []
    derivatives = DERIVATIVE_FACTORS if lag0 > 0 else (0.0,)
    for tau_c, ti_factor, d_factor in itertools.product(
        TAU_C_FACTORS, INTEGRAL_FACTORS, derivatives
    ):
        total = max(tau_c * base, lag0) + base
        kc, ti, td = 1.0 / (plant.gain * total), ti_factor * total, lag0 * d_factor
        kp, ti_p, td_p = kc * (1.0 + td / ti), ti + td, ti * td / (ti + td)
        family.append(PidSettings(kp=kp, ki=kp / ti_p, kd=kp * td_p))
    return family


def rehearse(
    loop: Loop, plant: IdentifiedPlant, bias: float, output: str, pid: PidSettings
) -> tuple[float, float, float]:
    """(overshoot, RMS of the hold, RMS after the load change) of `pid` on the
    identified model, °C."""
    cool = output == "cool"
    sign = -1.0 if cool else 1.0
    tuned = loop.model_copy(
        update={
            "pid": pid,
            "heater": None if cool else loop.heater,
            "cooler": loop.cooler if cool else None,
            "cascade": None,
        }
    )
    start = loop.setpoint
    target = start + sign * STEP_C
    period = plant.ultimate_period_s
    step_at, load_at = HOLD_PERIODS * period, PERIODS * period
    duration = load_at + LOAD_PERIODS * period
    model = IdentifiedModel(
        plant, bias, start, "cooler" if cool else "heater", load_at, sign * LOAD_PCT
    )
    trace = closed_loop.run(
        model,
        _Pid(tuned, bias),
        lambda t: target if t >= step_at else start,
        duration,
        sensor="pv",
        heater=None if cool else "heater",
        cooler="cooler" if cool else None,
        period=min(60.0, max(1.0, period / 200.0)),
    )
    samples = list(zip(trace.times, trace.pv, strict=True))
    over = max(0.0, max(sign * (pv - target) for t, pv in samples if t < load_at))
    settled = load_at - SCORED_PERIODS * period

    def rms(start: float, end: float) -> float:
        late = [pv - target for t, pv in samples if start <= t < end]
        return math.sqrt(sum(e * e for e in late) / max(1, len(late)))

    return over, rms(settled, load_at), rms(load_at, duration)


def choose(
    loop: Loop, plant: IdentifiedPlant, bias: float, output: str, window_s: float
) -> Proposal:
    """The candidate that does best on the identified model (the loop's present gains
    among them): the SIMC proposal, made fit for the loop it will run in."""
    present = loop.pid_settings
    floors = (OVERSHOOT_FLOOR_C, RMS_FLOOR_C, RMS_FLOOR_C)
    ref = [
        max(x, f) for x, f in zip(rehearse(loop, plant, bias, output, present), floors, strict=True)
    ]
    best, best_score = present, 1.0
    for pid in simc_family(plant, window_s):
        got = rehearse(loop, plant, bias, output, pid)
        score = max(max(x, f) / r for x, f, r in zip(got, floors, ref, strict=True))
        if score < best_score:
            best, best_score = pid, score
    return Proposal(Rule.simc, best.kp, best.ki, best.kd)
