import pytest
from pydantic import ValidationError

from services.common.schema.alarms import Alarm, AlarmState
from services.common.schema.commands import (
    CommandError,
    ModeCommand,
    ProfileCommand,
    SetpointCommand,
    parse_loop_command,
)
from services.common.schema.config import Device, Loop, LoopMode, Profile


def fermenter(**overrides: object) -> dict:
    loop = {
        "id": "fermenter",
        "sensor": {"device": "sim", "id": "beer"},
        "heater": {"device": "sim", "id": "heater"},
    }
    loop.update(overrides)
    return loop


def test_a_minimal_loop_gets_kind_defaults() -> None:
    loop = Loop.model_validate(fermenter())
    assert loop.mode == LoopMode.off
    assert loop.pid_settings.kp > 0


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"heater": None}, "heater, a cooler, or both"),
        ({"setpoint": 500}, "less than or equal"),
        ({"mode": "profile"}, "needs a 'profile'"),
        ({"colour": "red"}, "Extra inputs"),
        ({"id": "Bad Id"}, "lowercase"),
    ],
)
def test_bad_loops_say_what_is_wrong(overrides: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Loop.model_validate(fermenter(**overrides))


def test_profile_times_must_ascend() -> None:
    with pytest.raises(ValidationError, match="ascending"):
        Profile.model_validate(
            {
                "id": "ale",
                "points": [{"offset": 10, "temperature": 18}, {"offset": 5, "temperature": 20}],
            }
        )


def test_device_kind_needs_its_link() -> None:
    with pytest.raises(ValidationError, match="serial device needs"):
        Device.model_validate({"id": "ardu", "kind": "serial"})


@pytest.mark.parametrize(
    ("command", "raw", "expected"),
    [
        ("setpoint", b"20.5", SetpointCommand(value=20.5)),
        ("setpoint", b'{"value": 19}', SetpointCommand(value=19)),
        ("mode", b"constant", ModeCommand(value=LoopMode.constant)),
        ("mode", b"heat_cool", ModeCommand(value=LoopMode.constant)),
        ("mode", b'"off"', ModeCommand(value=LoopMode.off)),
        ("profile", b"pause", ProfileCommand(action="pause")),
        (
            "profile",
            b'{"action": "start", "profile": "ale", "offset": 3600}',
            ProfileCommand(action="start", profile="ale", offset=3600),
        ),
    ],
)
def test_commands_as_home_assistant_and_the_ui_send_them(
    command: str, raw: bytes, expected: object
) -> None:
    assert parse_loop_command(command, raw) == expected


@pytest.mark.parametrize(
    ("command", "raw"),
    [
        ("setpoint", b"warm"),
        ("setpoint", b""),
        ("mode", b"turbo"),
        ("profile", b"explode"),
        ("speed", b"1"),
    ],
)
def test_bad_commands_raise_command_error(command: str, raw: bytes) -> None:
    with pytest.raises(CommandError):
        parse_loop_command(command, raw)


def test_alarm_lifecycle() -> None:
    alarm = Alarm(id="a", message="pilot light out", raised_at=1, ts=1)
    assert alarm.visible
    cleared = alarm.clear(now=2)
    assert (
        cleared.state == AlarmState.cleared and cleared.visible
    )  # cleared but unacknowledged stays
    done = cleared.acknowledge("brewer", now=3)
    assert not done.visible and done.acknowledged_by == "brewer"
