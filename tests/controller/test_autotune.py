"""Autotune on the simulated kettle and fermenter: the relay run identifies the plant
the simulator really is, and the PID it proposes holds and steps without excess
overshoot.

The reference ("true plant") comes from the noise-free simulator itself, not from
the autotune: the same plant run twice from the same state, once with the output
off and once fully on; once the lags have passed, the difference grows as
gain · 100 % · (t − total lag), so its slope is the integrating gain and its
intercept the dead time plus the lag.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise

import pytest

from services.common.schema.config import Loop, LoopKind, PidSettings
from services.controller.control.autotune import Phase, RelayAutotune, RelaySettings
from services.controller.control.core import LoopControl
from services.controller.control.tuning import refine
from services.controller.sim import closed_loop
from services.controller.sim.physics import Fermenter, FermenterParams, Kettle, KettleParams, Plant

GAIN_TOLERANCE = 0.15
"""The identified integrating gain is within ±15 % of the simulator's."""
LAG_TOLERANCE = 0.35
"""…and its dead time plus lag within ±35 % of the simulator's (an integrator, a
lag and a delay stand for the kettle's two lags and the fermenter's three)."""


@dataclass
class Reference:
    gain: float  # °C/s per %
    total_lag_s: float


def reference(
    make: Callable[[], Plant], sensor: str, output: str, sign: float, span: float, dt: float
) -> Reference:
    off, on = make(), make()
    times, diff = [], []
    t = 0.0
    while t < span:
        off.advance(dt, {})
        on.advance(dt, {output: True})
        t += dt
        if t >= span / 2:
            times.append(t)
            diff.append((on.temperature(sensor) - off.temperature(sensor)) * sign)
    n = len(times)
    mt, md = sum(times) / n, sum(diff) / n
    slope = sum((a - mt) * (b - md) for a, b in zip(times, diff, strict=True)) / sum(
        (a - mt) ** 2 for a in times
    )
    intercept = md - slope * mt
    return Reference(gain=slope / 100.0, total_lag_s=-intercept / slope)


class Tuned:
    """What the loop runtime does with a run (services/controller/control/loop.py), minus I/O:
    the relay drives the outputs until it is done, then the PID takes over with the
    proposed gains from the run's average output."""

    def __init__(self, loop: Loop, tuner: RelayAutotune, apply: bool = True) -> None:
        self.loop = loop
        self.apply = apply  # False: the brewer keeps the gains the loop had
        self.control = LoopControl(loop, 0.0)
        self.tuner = tuner
        self.ended_at: float | None = None

    def applied(self) -> float:
        c = self.control
        heat = 100.0 if c.heater is not None and c.heater.on else 0.0
        return heat - (100.0 if c.cooler is not None and c.cooler.on else 0.0)

    def on_reading(self, now: float, pv: float, sp: float) -> tuple[bool, bool, float | None]:
        tuner = self.tuner
        if tuner.phase == Phase.running:
            out = tuner.update(now, pv, self.applied())
            if tuner.phase == Phase.running:
                self.control.manual(out)
            else:
                self.ended_at = now
                refine(tuner, self.loop, "cool" if tuner.settings.high == 0 else "heat")
                if tuner.proposal is not None and self.apply:
                    p = tuner.proposal
                    pid = PidSettings(kp=p.kp, ki=p.ki, kd=p.kd)
                    self.loop = self.loop.model_copy(update={"pid": pid})
                    self.control.configure(self.loop, now)
                self.control.manual(tuner.bias or 0.0)
                self.control.sample(now, pv, sp)
        else:
            self.control.sample(now, pv, sp)
        d = self.control.update(now)
        return d.heat, d.cool, d.next_at

    def on_time(self, now: float) -> tuple[bool, bool, float | None]:
        d = self.control.update(now)
        return d.heat, d.cool, d.next_at


class Plain:
    """The loop's PID alone (the defaults, or any gains), for comparison."""

    def __init__(self, loop: Loop) -> None:
        self.control = LoopControl(loop, 0.0)

    def on_reading(self, now: float, pv: float, sp: float) -> tuple[bool, bool, float | None]:
        self.control.sample(now, pv, sp)
        d = self.control.update(now)
        return d.heat, d.cool, d.next_at

    def on_time(self, now: float) -> tuple[bool, bool, float | None]:
        d = self.control.update(now)
        return d.heat, d.cool, d.next_at


def overshoot(trace: closed_loop.Trace, after: float, target: float, sign: float) -> float:
    """How far past `target` the true temperature went after `after` (sign: the step's)."""
    return max(
        0.0,
        max(sign * (pv - target) for t, pv in zip(trace.times, trace.pv, strict=True) if t > after),
    )


def rms(trace: closed_loop.Trace, start: float, end: float) -> float:
    errors = [
        (pv - sp) ** 2
        for t, pv, sp in zip(trace.times, trace.pv, trace.sp, strict=True)
        if start <= t < end
    ]
    return math.sqrt(sum(errors) / len(errors))


KETTLE = KettleParams(start_c=65.0)


def kettle() -> Kettle:
    plant = Kettle(copy.copy(KETTLE))
    plant.element_heat = KETTLE.loss_w_per_k * (65.0 - KETTLE.ambient_c)  # holding 65 °C
    return plant


def kettle_loop(pid: PidSettings | None = None) -> Loop:
    return Loop(
        id="mash",
        kind=LoopKind.kettle,
        sensor={"device": "sim", "id": "water"},
        heater={"device": "sim", "id": "element"},
        mode="constant",
        setpoint=65.0,
        pid=pid,
    )


FERMENTER = FermenterParams(start_c=18.0, ambient_swing_c=0.0, yeast_peak_w=0.0)


def fermenter() -> Fermenter:
    return Fermenter(copy.copy(FERMENTER))


def fermenter_loop(pid: PidSettings | None = None) -> Loop:
    return Loop(
        id="fv1",
        sensor={"device": "sim", "id": "beer"},
        heater={"device": "sim", "id": "heater"},
        cooler={"device": "sim", "id": "cooler"},
        mode="constant",
        setpoint=18.0,
        pid=pid,
    )


def tune_kettle(apply: bool = True) -> tuple[Tuned, closed_loop.Trace]:
    loop = kettle_loop()
    tuner = RelayAutotune(
        RelaySettings(setpoint=65.0, high=100.0, low=0.0, window_s=loop.window_s), 0.0
    )
    tuned = Tuned(loop, tuner, apply)

    def setpoint(t: float) -> float:  # a 3 °C step (the next mash rest) 10 min after the run
        return 68.0 if tuned.ended_at is not None and t > tuned.ended_at + 600 else 65.0

    trace = closed_loop.run(
        kettle(), tuned, setpoint, 4000.0, sensor="water", heater="element", cooler=None
    )
    return tuned, trace


def tune_fermenter(apply: bool = True) -> tuple[Tuned, closed_loop.Trace]:
    loop = fermenter_loop()
    settings = RelaySettings(setpoint=18.0, high=0.0, low=-100.0, window_s=loop.compressor.window_s)
    tuned = Tuned(loop, RelayAutotune(settings, 0.0), apply)

    def setpoint(t: float) -> float:  # 18 → 16 °C six hours after the run
        return 16.0 if tuned.ended_at is not None and t > tuned.ended_at + 6 * 3600 else 18.0

    trace = closed_loop.run(
        fermenter(),
        tuned,
        setpoint,
        4 * 86_400.0,
        sensor="beer",
        heater="heater",
        cooler="cooler",
        period=10.0,
    )
    return tuned, trace


def test_autotune_identifies_the_simulated_kettle() -> None:
    tuned, trace = tune_kettle()
    tuner = tuned.tuner
    assert tuner.phase == Phase.done, tuner.reason
    plant = tuner.plant
    assert plant is not None
    truth = reference(kettle, "water", "element", 1.0, span=600.0, dt=1.0)
    print(f"kettle: identified {plant}, true {truth}")
    assert plant.gain == pytest.approx(truth.gain, rel=GAIN_TOLERANCE)
    assert plant.dead_time_s + plant.lag_s == pytest.approx(truth.total_lag_s, rel=LAG_TOLERANCE)
    assert plant.amplitude_c < 0.5  # bounded around the setpoint
    # The proposed PID: steps 65 → 68 °C with little overshoot and holds.
    assert tuned.ended_at is not None
    step_at = tuned.ended_at + 600
    tuned_overshoot = overshoot(trace, step_at, 68.0, 1.0)
    tuned_rms = rms(trace, step_at + 1200, 4000.0)
    # The same run, the same readings, the brewer keeping the defaults instead.
    _, defaults = tune_kettle(apply=False)
    default_overshoot = overshoot(defaults, step_at, 68.0, 1.0)
    default_rms = rms(defaults, step_at + 1200, 4000.0)
    assert tuner.proposal is not None
    print(
        f"kettle 65 → 68 °C: proposal {tuner.proposal}: overshoot {tuned_overshoot:.3f} °C "
        f"(defaults {default_overshoot:.3f}), RMS after {tuned_rms:.3f} °C "
        f"(defaults {default_rms:.3f})"
    )
    assert tuned_overshoot <= default_overshoot  # at least as well as the defaults
    assert tuned_rms <= default_rms


def test_autotune_identifies_the_simulated_fermenter() -> None:
    tuned, trace = tune_fermenter()
    tuner = tuned.tuner
    assert tuner.phase == Phase.done, tuner.reason
    plant = tuner.plant
    assert plant is not None
    truth = reference(fermenter, "beer", "cooler", -1.0, span=3 * 3600.0, dt=10.0)
    print(f"fermenter: identified {plant}, true {truth}")
    assert plant.gain == pytest.approx(truth.gain, rel=GAIN_TOLERANCE)
    assert plant.dead_time_s + plant.lag_s == pytest.approx(truth.total_lag_s, rel=LAG_TOLERANCE)
    assert plant.amplitude_c < 0.6
    # The relay went through the compressor's protection like the PID: never short-cycled.
    c = tuned.loop.compressor
    cool = [(t, on) for t, name, on in trace.switches if name == "cool" and t <= tuned.ended_at]
    assert len(cool) >= 6
    assert not any(n == "heat" and t <= tuned.ended_at for t, n, _ in trace.switches)
    for (t0, on), (t1, _) in pairwise(cool):
        assert t1 - t0 >= (c.min_on_s if on else c.min_off_s)
    assert tuned.ended_at is not None
    step_at = tuned.ended_at + 6 * 3600
    end = trace.times[-1]
    tuned_overshoot = overshoot(trace, step_at, 16.0, -1.0)
    tuned_rms = rms(trace, step_at + 86_400, end)
    # The same run, the same readings, the brewer keeping the defaults instead.
    _, defaults = tune_fermenter(apply=False)
    default_overshoot = overshoot(defaults, step_at, 16.0, -1.0)
    default_rms = rms(defaults, step_at + 86_400, end)
    print(
        f"fermenter 18 → 16 °C: proposal {tuner.proposal}: overshoot {tuned_overshoot:.3f} °C (defaults "
        f"{default_overshoot:.3f}), RMS a day after {tuned_rms:.3f} °C (defaults {default_rms:.3f})"
    )
    assert tuned_overshoot <= default_overshoot  # at least as well as the defaults
    assert tuned_rms <= default_rms


def test_autotune_aborts_beyond_its_bound_and_holds_its_levels() -> None:
    """Safe by construction: only the two levels ever asked, and an end when the reading
    strays further from the setpoint than allowed."""
    tuner = RelayAutotune(
        RelaySettings(setpoint=20.0, high=60.0, low=0.0, max_deviation_c=0.5), 0.0
    )
    asked = {tuner.update(t, 20.0 + 0.02 * t, 0.0) for t in range(0, 50)}
    assert asked <= {60.0, 0.0}
    assert tuner.phase == Phase.aborted
    assert "more than 0.5 °C from the setpoint" in (tuner.reason or "")


def test_autotune_gives_up_on_a_plant_that_cannot_come_back() -> None:
    """A heat-only kettle at room temperature: once above the band, "off" never brings it
    below it again. The run ends in hours, not the two days' limit."""
    tuner = RelayAutotune(RelaySettings(setpoint=20.0, high=100.0, low=0.0), 0.0)
    t = 0.0
    while tuner.phase == Phase.running and t < 86_400.0:
        tuner.update(t, 20.2, 0.0)
        t += 60.0
    assert tuner.phase == Phase.aborted and t <= 12 * 3600 + 120
    assert "did not cross the setpoint band in 12 h" in (tuner.reason or "")
