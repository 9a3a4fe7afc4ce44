"""Relays from duty cycles: windows, minimum on/off times, dead time — and the compressor
protection never broken, whatever the setpoints do (property-based)."""

from __future__ import annotations

import itertools
import math

from hypothesis import event, given, settings
from hypothesis import strategies as st

from services.common.schema.config import CompressorProtection
from services.controller.control.actuators import OutputTiming, TimeProportionedOutput
from services.controller.control.core import LoopControl
from services.controller.sim import closed_loop
from services.controller.sim.physics import Fermenter, FermenterParams
from tests.controller.support import fermenter_loop


def drive(out: TimeProportionedOutput, duty: float, until: float, now: float = 0.0) -> list[float]:
    """Follow the output's own deadlines; returns the switching times."""
    switches = []
    state = out.on
    t = now
    while t < until:
        nxt = out.update(t, duty)
        if out.on != state:
            switches.append(t)
            state = out.on
        t = nxt if nxt is not None and nxt > t else until
    return switches


def test_a_window_is_on_for_its_duty() -> None:
    out = TimeProportionedOutput(OutputTiming(window_s=10.0), now=0.0)
    switches = drive(out, 0.3, 100.0)
    assert switches[:4] == [0.0, 3.0, 10.0, 13.0]


def test_full_and_zero_duty_hold_the_relay() -> None:
    out = TimeProportionedOutput(OutputTiming(window_s=10.0), now=0.0)
    assert drive(out, 1.0, 100.0) == [0.0]
    assert drive(out, 0.0, 200.0, now=100.0) == [100.0]


def test_a_small_duty_stretches_the_window_instead_of_cheating_min_on() -> None:
    timing = OutputTiming(window_s=1800.0, min_on_s=180.0, min_off_s=300.0)
    out = TimeProportionedOutput(timing, now=-1000.0)
    assert out.plan(0.05) == (180.0, 3600.0)  # 5 % of 30 min is 90 s: run 180 s per hour
    switches = drive(out, 0.05, 7200.0)
    assert switches == [0.0, 180.0, 3600.0, 3780.0]
    assert out.plan(0.01) == (0.0, 1800.0)  # too little to start a compressor for
    assert out.plan(0.97) == (math.inf, math.inf)  # too much to stop it for


def test_minimum_off_time_is_respected_after_a_restart() -> None:
    timing = OutputTiming(window_s=1800.0, min_on_s=180.0, min_off_s=300.0)
    out = TimeProportionedOutput(timing, now=0.0)  # just started: assume it just stopped
    assert out.update(0.0, 1.0) == 300.0
    assert not out.on and "minimum off" in (out.waiting or "")
    out.update(300.0, 1.0)
    assert out.on


def test_force_off_cuts_an_on_time_but_not_the_off_time() -> None:
    timing = OutputTiming(window_s=1800.0, min_on_s=180.0, min_off_s=300.0)
    out = TimeProportionedOutput(timing, now=-1000.0)
    out.update(0.0, 1.0)
    out.force_off(10.0)  # a sensor failed 10 s after the start
    assert not out.on
    out.update(20.0, 1.0)
    assert not out.on  # minimum off time still holds
    out.update(310.0, 1.0)
    assert out.on


def check_protection(
    switches: list[tuple[float, str, bool]], protection: CompressorProtection, start: float
) -> None:
    cool = [(start, False)] + [(t, on) for t, name, on in switches if name == "cool"]
    for (t0, on0), (t1, on1) in itertools.pairwise(cool):
        assert on0 != on1
        limit = protection.min_on_s if on0 else protection.min_off_s
        assert t1 - t0 >= limit - 1e-6, f"cooler {'on' if on0 else 'off'} only {t1 - t0:.0f} s"
    state = {"heat": False, "cool": False}
    ended = {"heat": -math.inf, "cool": -math.inf}
    for t, name, on in switches:
        other = "cool" if name == "heat" else "heat"
        if on:
            assert not state[other], "heating and cooling at once"
            assert t - ended[other] >= protection.dead_time_s - 1e-6, "dead time broken"
        else:
            ended[name] = t
        state[name] = on


segments = st.lists(
    st.tuples(st.floats(600.0, 8 * 3600.0), st.floats(0.0, 30.0)), min_size=1, max_size=6
)
protections = st.builds(
    CompressorProtection,
    min_on_s=st.floats(0.0, 600.0),
    min_off_s=st.floats(0.0, 900.0),
    dead_time_s=st.floats(0.0, 1200.0),
    window_s=st.floats(300.0, 3600.0),
)


class Ours:
    def __init__(self, control: LoopControl) -> None:
        self.c = control

    def on_reading(self, now: float, pv: float, setpoint: float):  # type: ignore[no-untyped-def]
        self.c.sample(now, pv, setpoint)
        return self.on_time(now)

    def on_time(self, now: float):  # type: ignore[no-untyped-def]
        d = self.c.update(now)
        return d.heat, d.cool, d.next_at


@settings(max_examples=40, deadline=None)
@given(segments, protections, st.floats(5.0, 35.0))
def test_compressor_timing_is_never_violated(
    setpoints: list[tuple[float, float]], protection: CompressorProtection, ambient: float
) -> None:
    loop = fermenter_loop(compressor=protection)
    control = LoopControl(loop, now=0.0)
    ends = list(itertools.accumulate(d for d, _ in setpoints))

    def setpoint(t: float) -> float:
        return next(
            (sp for end, (_, sp) in zip(ends, setpoints, strict=True) if t < end), setpoints[-1][1]
        )

    plant = Fermenter(FermenterParams(ambient_c=ambient, ambient_swing_c=3.0))
    trace = closed_loop.run(
        plant,
        Ours(control),
        setpoint,
        ends[-1],
        sensor="beer",
        heater="heater",
        cooler="cooler",
        period=30.0,
    )
    check_protection(trace.switches, protection, start=0.0)
    starts = sum(1 for _, name, on in trace.switches if name == "cool" and on)
    event(f"compressor starts: {'none' if not starts else '1-5' if starts < 6 else 'many'}")


def test_dead_time_holds_after_a_restart() -> None:
    """The compressor may have run until the old process died: no heating straight away."""
    loop = fermenter_loop(compressor=CompressorProtection(dead_time_s=600.0, min_off_s=0.0))
    control = LoopControl(loop, now=1000.0)
    control.sample(1000.0, pv=10.0, setpoint=20.0)  # far too cold: full heat wanted
    decision = control.update(1000.0)
    assert not decision.heat and "dead time" in (decision.waiting_reason or "")
    assert decision.next_at == 1600.0
    assert control.update(1600.0).heat


def test_a_wait_is_stable_text_with_an_end_time_not_a_countdown() -> None:
    """A reason that changed every second made every state different (Home Assistant
    wrote a row a second); the end of the wait is a fixed time instead."""
    loop = fermenter_loop(compressor=CompressorProtection(dead_time_s=600.0, min_off_s=0.0))
    control = LoopControl(loop, now=1000.0)
    control.sample(1000.0, pv=10.0, setpoint=20.0)
    seen = {
        (d.waiting_reason, d.waiting_until) for d in map(control.update, (1000.0, 1001.0, 1300.5))
    }
    assert seen == {("heater: dead time between heating and cooling", 1600)}
    cooler = TimeProportionedOutput(OutputTiming(window_s=600.0, min_off_s=300.0), now=0.0)
    for now in (10.0, 11.0, 200.0):
        cooler.update(now, 0.5)
        assert (cooler.waiting, cooler.waiting_until) == ("minimum off time", 300.0)
    cooler.update(300.0, 0.5)
    assert cooler.on and cooler.waiting_until is None
