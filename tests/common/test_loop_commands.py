"""The loop command rules every path shares: a pure function of (loop, command, now)."""

from __future__ import annotations

import pytest

from services.common.loop_commands import apply_loop_command as apply_command
from services.common.loop_commands import profile_temperature
from services.common.schema.commands import CommandError, ProfileCommand, parse_loop_command
from services.common.schema.config import Loop, LoopMode, Profile, ProfileRun
from tests.api.conftest import ALE, FERMENTER_LOOP

# --- the rules, as a pure function of (loop, command, now) -------------------------------

LOOP = Loop.model_validate(FERMENTER_LOOP)
PROFILE = Profile.model_validate(ALE)


def find(profile_id: str) -> Profile | None:
    return PROFILE if profile_id == "ale" else None


def profile_cmd(text: str) -> ProfileCommand:
    cmd = parse_loop_command("profile", text.encode())
    assert isinstance(cmd, ProfileCommand)
    return cmd


def test_start_pause_resume_shift_the_start_by_the_pause() -> None:
    started = apply_command(
        LOOP, profile_cmd('{"action":"start","profile":"ale","offset":600}'), 10_000, find
    )
    assert started.profile == ProfileRun(profile="ale", started_at=9_400)
    paused = apply_command(started, profile_cmd("pause"), 11_000, find)
    assert paused.profile is not None and paused.profile.paused_at == 11_000
    again = apply_command(paused, profile_cmd("pause"), 12_000, find)
    assert again.profile == paused.profile  # pausing twice changes nothing
    resumed = apply_command(paused, profile_cmd("resume"), 14_000, find)
    assert resumed.profile == ProfileRun(profile="ale", started_at=12_400)  # 3000 s paused


def test_jump_and_stop_hold_the_reached_temperature() -> None:
    running = apply_command(LOOP, profile_cmd('{"action":"start","profile":"ale"}'), 0, find)
    jumped = apply_command(running, profile_cmd('{"action":"jump","offset":43200}'), 1000, find)
    assert jumped.profile is not None and jumped.profile.started_at == 1000 - 43200
    stopped = apply_command(jumped, profile_cmd("stop"), 1000, find)
    assert stopped.mode == "constant" and stopped.profile is None
    assert stopped.setpoint == 19.0  # half way from 18 to 20


def test_profile_temperature_follows_brewpi_rules() -> None:
    run = ProfileRun(profile="ale", started_at=0)
    assert profile_temperature(PROFILE, run, -5) == 18
    assert profile_temperature(PROFILE, run, 43200) == 19.0
    # the controller's rule (docs/control.md): a null point is "off until the next point"
    assert profile_temperature(PROFILE, run, 86400 * 1.5) == 20.0
    assert profile_temperature(PROFILE, run, 86400 * 2) is None
    step = PROFILE.model_copy(update={"interpolation": "step"})
    assert profile_temperature(step, run, 43200) == 18


def test_output_needs_the_matching_actuator() -> None:
    heater_only = LOOP.model_copy(update={"cooler": None})
    with pytest.raises(CommandError, match="no cooler"):
        apply_command(heater_only, parse_loop_command("output", b"-20"), 0, find)
    assert (
        apply_command(heater_only, parse_loop_command("output", b"40"), 0, find).manual_output == 40
    )


@pytest.mark.parametrize("mode", ["off", "manual"])
def test_stopping_a_profile_leaves_an_off_or_manual_loop_alone(mode: str) -> None:
    running = apply_command(LOOP, profile_cmd('{"action":"start","profile":"ale"}'), 0, find)
    parked = running.model_copy(update={"mode": LoopMode(mode)})
    stopped = apply_command(parked, profile_cmd("stop"), 1000, find)
    assert stopped.mode == mode and stopped.profile is None
    assert stopped.setpoint == parked.setpoint


def test_a_profile_with_dates_runs_at_its_dates() -> None:
    dated = Profile.model_validate(
        {
            "id": "lager",
            "points": [
                {"at": "2030-01-01T00:00:00Z", "temperature": 10},
                {"at": "2030-01-02T00:00:00Z", "temperature": 12},
            ],
        }
    )
    first = dated.points[0].at.timestamp()  # type: ignore[union-attr]
    cmd = profile_cmd('{"action":"start","profile":"lager","offset":600}')
    started = apply_command(LOOP, cmd, first - 5 * 86400, lambda _: dated)
    assert started.profile == ProfileRun(profile="lager", started_at=first)
    assert profile_temperature(dated, started.profile, first + 43200) == 11.0


@pytest.mark.parametrize("offset", ["Infinity", "NaN", "1e300"])
def test_an_offset_must_be_a_finite_time(offset: str) -> None:
    with pytest.raises(CommandError, match="profile"):
        parse_loop_command("profile", f'{{"action":"jump","offset":{offset}}}'.encode())
