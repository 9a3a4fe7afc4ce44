"""Outputs chosen by what they are: each type's defaults and bounds, the starts-per-hour
cap, and — whatever the setpoints and the plant — minimum times, starts per hour and
the heat↔cool dead band hold, and heating and cooling never run together
(property-based, on the simulated clock of the closed loop: days in a second)."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from services.common.schema.config import Cascade, IoRef
from services.common.schema.outputs import OUTPUT_TYPES, ActuatorType, OutputSettings
from services.controller.control.actuators import OutputTiming, TimeProportionedOutput
from services.controller.control.core import LoopControl
from services.controller.sim import closed_loop
from services.controller.sim.physics import PLANT_MATRIX, FermenterParams
from tests.controller.support import fermenter_loop

HOUR = 3600.0
FERMENTERS = [v for v in PLANT_MATRIX if isinstance(v.params, FermenterParams)]


@pytest.mark.parametrize("kind", list(ActuatorType))
def test_every_type_has_defaults_inside_its_own_bounds(kind: ActuatorType) -> None:
    role = "heater_output" if kind in (ActuatorType.ssr, ActuatorType.relay) else "cooler_output"
    loop = fermenter_loop(**{role: OutputSettings(type=kind)})
    window, min_on, min_off, starts = getattr(loop, role).resolved()
    spec = OUTPUT_TYPES[kind]
    assert spec.window_range_s[0] <= window <= spec.window_range_s[1]
    assert min_on >= spec.min_on_floor_s and min_off >= spec.min_off_floor_s
    assert not spec.starts_cap or 1 <= starts <= spec.starts_cap


@pytest.mark.parametrize(
    ("settings_", "says"),
    [
        (OutputSettings(type="compressor", min_off_s=30), "min_off_s must be at least 180"),
        (OutputSettings(type="compressor", window_s=10), "window_s must be within 600..14400"),
        (OutputSettings(type="compressor", max_starts_per_hour=30), "within 1..10"),
        (OutputSettings(type="relay", window_s=10), "window_s must be within 60..14400"),
    ],
)
def test_a_timing_the_output_cannot_bear_is_refused_saying_why(
    settings_: OutputSettings, says: str
) -> None:
    with pytest.raises(ValidationError, match=says):
        fermenter_loop(cooler_output=settings_)


def test_starts_per_hour_are_capped_in_any_sliding_hour() -> None:
    out = TimeProportionedOutput(OutputTiming(window_s=60.0, max_starts_per_hour=2), now=-HOUR)
    t, starts = 0.0, []
    while t < 3 * HOUR:
        was = out.on
        nxt = out.update(t, 0.5)
        if out.on and not was:
            starts.append(t)
        t = nxt if nxt is not None and nxt > t else t + 1.0
    assert len(starts) == 6  # 2 an hour, not the 90 a 60 s window would make
    assert all(b - a >= HOUR for a, b in zip(starts, starts[2:], strict=False))
    out.update(starts[-1] + 100.0, 0.5)
    assert out.waiting == "starts per hour limit"


class Recorder:
    """Our loop in the closed loop, noting every change of side with the error then."""

    def __init__(self, control: LoopControl) -> None:
        self.c = control
        self.sides: list[tuple[str | None, str, float]] = []  # (from, to, SP − PV)

    def on_reading(self, now: float, pv: float, setpoint: float, chamber: float | None = None):  # type: ignore[no-untyped-def]
        was = self.c.side
        self.c.sample(now, pv, setpoint, chamber)
        if self.c.side != was:
            self.sides.append((was, self.c.side or "", setpoint - pv))
        return self.on_time(now)

    def on_time(self, now: float):  # type: ignore[no-untyped-def]
        d = self.c.update(now)
        return d.heat, d.cool, d.next_at


def check_timings(switches: list[tuple[float, str, bool]], name: str, timing: OutputTiming) -> None:
    seq = [(-math.inf, False)] + [(t, on) for t, n, on in switches if n == name]
    for (t0, on0), (t1, _) in itertools.pairwise(seq):
        limit = timing.min_on_s if on0 else timing.min_off_s
        if t0 > 0:  # the first off-time began before the run
            assert t1 - t0 >= limit - 1e-6, f"{name} {'on' if on0 else 'off'} {t1 - t0:.0f} s"
    starts = [t for t, on in seq if on]
    n = timing.max_starts_per_hour
    if n:
        for a, b in zip(starts, starts[n:], strict=False):
            assert b - a >= HOUR - 1e-6, f"{name}: {n + 1} starts within an hour"


segments = st.lists(
    st.tuples(st.floats(1800.0, 8 * HOUR), st.floats(0.0, 28.0)), min_size=1, max_size=4
)


@settings(max_examples=12, deadline=None)
@given(
    segments,
    st.sampled_from(FERMENTERS),
    st.sampled_from([ActuatorType.ssr, ActuatorType.relay]),
    st.sampled_from([ActuatorType.compressor, ActuatorType.glycol_valve, ActuatorType.pump]),
    st.booleans(),
)
def test_whatever_the_setpoints_and_plant_the_output_rules_hold(
    setpoints: list[tuple[float, float]],
    variant,  # type: ignore[no-untyped-def]
    heater: ActuatorType,
    cooler: ActuatorType,
    cascade: bool,
) -> None:
    loop = fermenter_loop(
        heater_output=OutputSettings(type=heater),
        cooler_output=OutputSettings(type=cooler),
        cascade=Cascade(chamber=IoRef(device="sim-fermenter", id="chamber")) if cascade else None,
    )
    control = LoopControl(loop, now=0.0)
    heat_timing, cool_timing = control.heater.timing, control.cooler.timing  # type: ignore[union-attr]
    recorder = Recorder(control)
    ends = list(itertools.accumulate(d for d, _ in setpoints))

    def setpoint(t: float) -> float:
        return next((sp for end, (_, sp) in zip(ends, setpoints, strict=True) if t < end), 0.0)

    trace = closed_loop.run(
        variant.plant(),
        recorder,
        setpoint,
        ends[-1],
        sensor="beer",
        heater="heater",
        cooler="cooler",
        period=60.0,
        chamber="chamber" if cascade else None,
    )
    check_timings(trace.switches, "heat", heat_timing)
    check_timings(trace.switches, "cool", cool_timing)
    on = {"heat": False, "cool": False}
    ended = {"heat": -math.inf, "cool": 0.0}  # at start-up the compressor may have just run
    for t, name, state in trace.switches:
        other = "cool" if name == "heat" else "heat"
        if state:
            assert not on[other], "heating and cooling at once"
            assert t - ended[other] >= loop.compressor.dead_time_s - 1e-6, "dead time broken"
        else:
            ended[name] = t
        on[name] = state
    band = loop.heat_cool_band_c
    for was, now, error in recorder.sides:
        if was == "cool" and now == "heat":
            assert error >= band, f"heating {error:.2f} °C below the setpoint, inside the band"
        if was == "heat" and now == "cool":
            assert -error >= band, f"cooling {-error:.2f} °C above the setpoint, inside the band"
