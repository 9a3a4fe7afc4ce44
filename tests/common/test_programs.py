"""The step engine (services/common/programs.py): holds count from the moment the target
is reached, conditions never advance on bad data, commands move the run."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.common import programs
from services.common.loop_commands import apply_loop_command
from services.common.profiles import pause, resume
from services.common.programs import GravityReading, check_gravity, evaluate
from services.common.schema.commands import CommandError, ProfileCommand
from services.common.schema.config import IoRef, Loop, Profile, ProfileStep, Ramp, StepCondition

HOUR = 3600.0
DAY = 86_400.0


def mash() -> Profile:
    return Profile(
        id="mash",
        name="3-rest mash",
        kind="mash",
        steps=[
            ProfileStep(name="Beta", temperature=66, hold_s=3600),
            ProfileStep(name="Alpha", temperature=72, hold_s=900),
            ProfileStep(name="Mash out", temperature=78, hold_s=600),
        ],
    )


def gravity_step(**until: object) -> Profile:
    return Profile(
        id="ferm",
        kind="fermentation",
        steps=[
            ProfileStep(name="Primary", temperature=12, until=StepCondition(**until)),
            ProfileStep(name="Crash", temperature=1),
        ],
    )


def run_plant(
    profile: Profile, rate_c_per_s: float, dt: float, start_c: float, limit_s: float
) -> tuple[float, list[tuple[str, int, float, float]]]:
    """A plant whose PV moves towards the setpoint at most `rate` °C/s, evaluated every dt.
    Returns (when the run finished, [(event kind, step, t, pv)])."""
    run = programs.start(profile, 0.0)
    pv, t, seen = start_c, 0.0, []
    while t <= limit_s:
        result = evaluate(profile, run, t, pv)
        seen += [(e.kind, e.step, t, pv) for e in result.events]
        run = result.run
        if result.finished:
            return t, seen
        sp = result.setpoint
        if sp is not None:
            pv += max(-rate_c_per_s * dt, min(rate_c_per_s * dt, sp - pv))
        t += dt
    raise AssertionError("did not finish")


steps_strategy = st.lists(
    st.builds(
        ProfileStep,
        temperature=st.floats(0, 100).map(lambda x: round(x, 1)),
        hold_s=st.floats(0, 4 * HOUR).map(round),
        ramp=st.one_of(
            st.none(),
            st.builds(Ramp, duration_s=st.floats(60, 2 * HOUR).map(round)),
            st.builds(Ramp, rate_c_per_h=st.floats(1, 60).map(lambda x: round(x, 1))),
        ),
    ),
    min_size=1,
    max_size=5,
)


@settings(max_examples=60, deadline=None)
@given(steps=steps_strategy, start=st.floats(0, 100))
def test_an_ideal_plant_runs_for_exactly_the_ramps_plus_the_holds(
    steps: list[ProfileStep], start: float
) -> None:
    profile = Profile(id="p", steps=steps)
    dt = 30.0
    finished, _ = run_plant(profile, rate_c_per_s=1e6, dt=dt, start_c=start, limit_s=10 * DAY)
    expected = programs.expected_seconds(profile, start)
    # per step, at most one evaluation each late for: the ramp's end, the plant to
    # follow it (it moves one evaluation behind the setpoint), the hold's end
    assert expected - dt <= finished <= expected + 3 * dt * len(steps)


@settings(max_examples=60, deadline=None)
@given(steps=steps_strategy, start=st.floats(0, 100), rate=st.floats(0.005, 0.5))
def test_a_hold_never_starts_before_the_target_is_reached(
    steps: list[ProfileStep], start: float, rate: float
) -> None:
    profile = Profile(id="p", steps=steps)
    _, seen = run_plant(profile, rate_c_per_s=rate, dt=10.0, start_c=start, limit_s=60 * DAY)
    reached = [(step, pv) for kind, step, _, pv in seen if kind == "reached"]
    assert [s for s, _ in reached] == list(range(len(steps)))
    for step, pv in reached:
        assert abs(pv - steps[step].temperature) <= steps[step].tolerance  # type: ignore[operator]


def test_the_three_rest_mash_counts_each_rest_from_its_target() -> None:
    finished, seen = run_plant(mash(), rate_c_per_s=1 / 60, dt=5.0, start_c=60.0, limit_s=DAY)
    reached = {step: t for kind, step, t, _ in seen if kind == "reached"}
    started = {step: t for kind, step, t, _ in seen if kind == "started"}
    # 1 °C/min: 60 → 66 (-0.5 tolerance) takes 5.5 min, 66 → 72 5.5 min, 72 → 78 5.5 min
    assert reached[0] == pytest.approx(330, abs=5)
    assert started[1] == pytest.approx(reached[0] + 3600, abs=5)
    assert reached[1] - started[1] == pytest.approx(330, abs=10)
    assert finished == pytest.approx(3 * 330 + 3600 + 900 + 600, abs=20)


def test_a_ramp_moves_the_setpoint_and_the_hold_waits_for_its_end() -> None:
    profile = Profile(
        id="lager",
        steps=[
            ProfileStep(temperature=12, hold_s=10 * DAY),
            ProfileStep(temperature=16, ramp=Ramp(duration_s=2 * DAY), hold_s=2 * DAY),
            ProfileStep(temperature=1, hold_s=0),
        ],
    )
    run = programs.start(profile, 0.0)
    result = evaluate(profile, run, 0.0, 12.0)
    assert result.run.reached_at == 0.0
    result = evaluate(profile, result.run, 10 * DAY, 12.0)
    assert result.run.step == 1 and result.setpoint == 12.0
    assert evaluate(profile, result.run, 11 * DAY, 14.0).setpoint == pytest.approx(14.0)
    on_target = evaluate(profile, result.run, 11 * DAY, 12.0)
    assert on_target.run.reached_at is None  # within tolerance of the ramp, not of 16
    at_end = evaluate(profile, result.run, 12 * DAY, 16.0)
    assert at_end.run.reached_at == 12 * DAY
    assert programs.expected_seconds(profile) == 14 * DAY


def test_a_confirmation_waits_and_says_what_for() -> None:
    profile = Profile(
        id="mash",
        steps=[
            ProfileStep(
                name="Dough in",
                temperature=70,
                until=StepCondition(type="confirm", prompt="Add the grain, then confirm"),
            ),
            ProfileStep(name="Rest", temperature=66, hold_s=3600),
        ],
    )
    run = programs.start(profile, 0.0)
    result = evaluate(profile, run, 100.0, 70.0)
    assert [e.kind for e in result.events] == ["reached", "waiting"]
    assert result.events[-1].confirm == "Add the grain, then confirm"
    assert result.waiting and result.waiting.text == "Add the grain, then confirm"
    later = evaluate(profile, result.run, 5 * HOUR, 70.0)
    assert later.run.step == 0 and later.events == ()  # the wait is announced once
    progress = programs.progress(profile, later.run, 5 * HOUR, later)
    assert progress.confirm == "Add the grain, then confirm"
    confirmed = programs.confirm(profile, later.run)
    moved = evaluate(profile, confirmed, 5 * HOUR + 1, 70.0)
    assert moved.run.step == 1 and moved.setpoint == 66


def readings(
    values: list[float], start: float, every: float, problem: str | None = None
) -> list[GravityReading]:
    return [GravityReading(start + i * every, v, problem) for i, v in enumerate(values)]


def at_gravity(profile: Profile, gravity: list[GravityReading], now: float) -> programs.StepResult:
    run = evaluate(profile, programs.start(profile, 0.0), 0.0, 12.0).run
    return evaluate(profile, run, now, 12.0, gravity)


def test_gravity_advances_only_when_three_fresh_readings_agree() -> None:
    profile = gravity_step(type="gravity", gravity=1.012, limit_s=10 * DAY)
    falling = readings([1.020, 1.015, 1.011, 1.010], 0.0, 900)
    assert at_gravity(profile, falling[:3], 1800).run.step == 0
    result = at_gravity(profile, falling[:3], 1800)
    assert result.waiting and result.waiting.code == "confirming"
    assert at_gravity(profile, falling[:4], 2700).run.step == 0
    done = at_gravity(profile, falling + readings([1.010], 3600, 900), 3600)
    assert done.run.step == 1
    assert "gravity 1.010" in done.events[0].text


def test_one_noisy_low_reading_does_not_skip_the_step() -> None:
    profile = gravity_step(type="gravity", gravity=1.012)
    noisy = readings([1.020, 1.020, 1.005, 1.020, 1.020], 0.0, 900)
    for n in range(1, 6):
        assert at_gravity(profile, noisy[:n], (n - 1) * 900).run.step == 0


def test_a_stale_hydrometer_does_not_advance_until_it_reports_again() -> None:
    profile = gravity_step(type="gravity", gravity=1.012, limit_s=10 * DAY)
    low = readings([1.010, 1.010, 1.010], 0.0, 900)
    stale = at_gravity(profile, low, 1800 + DAY)
    assert stale.run.step == 0
    assert stale.waiting and stale.waiting.code == "stale" and "stale" in stale.waiting.text
    # and the time limit still applies
    assert at_gravity(profile, low, 10 * DAY).run.step == 1


def test_untrusted_readings_do_not_count() -> None:
    profile = gravity_step(type="gravity", gravity=1.012)
    battery = readings([1.010] * 4, 0.0, 900, problem="low battery (3.31 V)")
    result = at_gravity(profile, battery, 2700)
    assert result.run.step == 0 and result.waiting and "low battery" in result.waiting.text
    assert check_gravity(1.6, 0.0).problem == "implausible (1.6)"
    assert check_gravity(1.010, 0.0, battery_v=3.2).problem == "low battery (3.20 V)"
    assert check_gravity(1.010, 0.0, battery_v=4.0).problem is None


def test_attenuation_from_the_first_reading_of_the_run() -> None:
    profile = gravity_step(type="attenuation", percent=75)
    values = [1.048, 1.030, 1.013, 1.011, 1.011, 1.011]
    gravity = readings(values, 0.0, 3600)
    run = programs.start(profile, 0.0)
    for i in range(len(values)):
        result = evaluate(profile, run, i * 3600.0, 12.0, gravity[: i + 1])
        run = result.run
    assert run.original_gravity == 1.048
    assert run.step == 1  # (1.048 − 1.011) / 0.048 = 77 %, three times


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), noise=st.floats(0.002, 0.01))
def test_a_noisy_hydrometer_is_never_stable(seed: int, noise: float) -> None:
    profile = gravity_step(type="stable", delta=0.001, hours=24)
    rng = random.Random(seed)
    gravity = [GravityReading(i * 900.0, 1.010 + rng.uniform(-noise, noise)) for i in range(400)]
    result = at_gravity(profile, gravity, gravity[-1].ts)
    assert result.run.step == 0
    assert result.waiting and result.waiting.code == "noisy"


def test_a_hydrometer_with_normal_noise_sees_a_finished_beer_stable() -> None:
    profile = gravity_step(type="stable", delta=0.001, hours=24)
    rng = random.Random(7)
    gravity = [GravityReading(i * 900.0, 1.010 + rng.gauss(0, 0.0004)) for i in range(200)]
    assert at_gravity(profile, gravity, gravity[-1].ts).run.step == 1
    falling = [GravityReading(i * 900.0, 1.030 - i * 0.0001) for i in range(200)]
    result = at_gravity(profile, falling, falling[-1].ts)
    assert result.run.step == 0 and result.waiting and result.waiting.code == "changing"


def test_stable_needs_readings_over_the_whole_window() -> None:
    profile = gravity_step(type="stable", delta=0.001, hours=24)
    flat = readings([1.010] * 200, 0.0, 900)
    assert at_gravity(profile, flat[:40], flat[39].ts).run.step == 0  # 10 h of 24
    few = at_gravity(profile, flat[:40], flat[39].ts)
    assert few.waiting and few.waiting.code == "few_readings"
    assert at_gravity(profile, flat, flat[-1].ts).run.step == 1


def test_pause_freezes_the_hold_and_resume_shifts_it() -> None:
    profile = mash()
    run = evaluate(profile, programs.start(profile, 0.0), 100.0, 66.0).run
    assert run.reached_at == 100.0
    paused = pause(run, 1000.0)
    frozen = evaluate(profile, paused, 50_000.0, 66.0)
    assert frozen.run.step == 0 and frozen.events == ()
    resumed = resume(paused, 5000.0)
    assert resumed.reached_at == 4100.0
    assert evaluate(profile, resumed, 4100.0 + 3599, 66.0).run.step == 0
    assert evaluate(profile, resumed, 4100.0 + 3600, 66.0).run.step == 1


def loop_running(profile: Profile) -> Loop:
    return Loop(
        id="kettle",
        kind="kettle",
        sensor=IoRef(device="k", id="water"),
        heater=IoRef(device="k", id="element"),
    )


def test_skip_extend_and_confirm_are_profile_commands() -> None:
    profile = mash()
    find = {"mash": profile}.get
    loop = apply_loop_command(
        loop_running(profile), ProfileCommand(action="start", profile="mash"), 0.0, find
    )
    assert loop.mode == "profile" and loop.profile and loop.profile.step == 0
    loop = apply_loop_command(loop, ProfileCommand(action="skip", step=2), 10.0, find)
    assert loop.profile and loop.profile.step == 2 and loop.profile.step_started_at == 10.0
    loop = apply_loop_command(loop, ProfileCommand(action="extend", seconds=300), 20.0, find)
    assert loop.profile and loop.profile.extra_s == 300
    with pytest.raises(CommandError, match="does not wait for a confirmation"):
        apply_loop_command(loop, ProfileCommand(action="confirm"), 30.0, find)
    with pytest.raises(CommandError, match=r"steps 0\.\.2, not 7"):
        apply_loop_command(loop, ProfileCommand(action="skip", step=7), 30.0, find)
    with pytest.raises(CommandError, match="skip"):
        apply_loop_command(loop, ProfileCommand(action="jump", offset=5), 30.0, find)
    with pytest.raises(CommandError, match="seconds"):
        apply_loop_command(loop, ProfileCommand(action="extend"), 30.0, find)


def test_a_profile_has_points_or_steps() -> None:
    with pytest.raises(ValueError, match="either 'points' or 'steps'"):
        Profile(id="x")
    with pytest.raises(ValueError, match="needs gravity"):
        StepCondition(type="gravity")
    with pytest.raises(ValueError, match="exactly one"):
        Ramp(duration_s=60, rate_c_per_h=6)
