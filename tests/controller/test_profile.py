"""Profiles: BrewPi's interpolation rule, steps, control-off segments, and a run's position."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.common.schema.config import Profile, ProfilePoint
from services.controller.control import profile as profiles
from services.controller.control.profile import Schedule
from tests.controller.support import DAY, HOUR, ale_profile


def relative(*points: tuple[float, float | None], interpolation: str = "linear") -> Schedule:
    return Schedule.of(
        Profile(
            id="p",
            interpolation=interpolation,
            points=[ProfilePoint(offset=o, temperature=t) for o, t in points],
        )
    )


def test_linear_between_points_and_held_outside_them() -> None:
    s = relative((HOUR, 18.0), (2 * HOUR, 20.0))
    assert s.setpoint(0.0) == 18.0  # before the first point: its temperature
    assert s.setpoint(1.5 * HOUR) == 19.0
    assert s.setpoint(10 * HOUR) == 20.0  # after the last: the last, held


def test_the_ale_profile() -> None:
    s = Schedule.of(ale_profile())
    assert s.setpoint(DAY) == 18.0
    assert s.setpoint(3.5 * DAY) == pytest.approx(19.5)
    assert s.setpoint(5 * DAY) == 21.0
    assert s.setpoint(8 * DAY) == 2.0
    assert s.duration == 10 * DAY


def test_step_interpolation_holds_each_point_until_the_next() -> None:
    s = relative((0.0, 65.0), (HOUR, 72.0), (1.5 * HOUR, 78.0), interpolation="step")
    assert s.setpoint(59 * 60) == 65.0
    assert s.setpoint(HOUR) == 72.0
    assert s.setpoint(2 * HOUR) == 78.0


def test_a_null_temperature_switches_control_off_until_the_next_point() -> None:
    s = relative((0.0, 20.0), (HOUR, None), (2 * HOUR, 18.0))
    assert s.setpoint(30 * 60) == 20.0  # heading into an off segment: hold, don't ramp to null
    assert s.setpoint(1.5 * HOUR) is None
    assert s.setpoint(3 * HOUR) == 18.0


def test_absolute_profiles_run_at_their_dates() -> None:
    start = datetime(2026, 3, 1, 12, tzinfo=UTC)
    profile = Profile(
        id="lager",
        points=[
            ProfilePoint(at=start, temperature=10.0),
            ProfilePoint(at=start.replace(day=3), temperature=12.0),
        ],
    )
    s = Schedule.of(profile)
    run = s.start(now=start.timestamp() + DAY, offset=0.0)
    assert run.started_at == start.timestamp()
    assert s.setpoint(profiles.elapsed_in(run, start.timestamp() + DAY)) == 11.0


def test_pause_resume_and_jump_move_the_position() -> None:
    s = Schedule.of(ale_profile())
    run = s.start(now=1000.0)
    assert profiles.elapsed_in(run, 1000.0 + DAY) == DAY
    paused = profiles.pause(run, now=1000.0 + DAY)
    assert profiles.elapsed_in(paused, 1000.0 + 3 * DAY) == DAY  # time stands still
    resumed = profiles.resume(paused, now=1000.0 + 3 * DAY)
    assert profiles.elapsed_in(resumed, 1000.0 + 4 * DAY) == 2 * DAY
    jumped = profiles.jump(resumed, now=1000.0 + 4 * DAY, offset=7 * DAY)
    assert s.setpoint(profiles.elapsed_in(jumped, 1000.0 + 4 * DAY)) == 21.0


def test_progress_says_where_the_run_is_and_what_comes_next() -> None:
    s = Schedule.of(ale_profile())
    run = s.start(now=0.0, offset=3.5 * DAY)
    progress = s.progress(run, now=0.0)
    assert progress.step == 1 and progress.steps == 6
    assert progress.next_setpoint == 21.0
    assert progress.next_at == 0.5 * DAY
    assert progress.remaining_s == 6.5 * DAY
    assert not progress.finished and not progress.paused
    assert s.progress(run, now=7 * DAY).finished
