"""Loop commands over MQTT (mosquitto_pub), and the rules every path shares."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from services.api.loop_commands import apply_command, profile_temperature
from services.common.schema.commands import CommandError, ProfileCommand, parse_loop_command
from services.common.schema.config import Loop, LoopMode, Profile, ProfileRun
from tests.api.conftest import ALE, FERMENTER_LOOP
from tests.support.broker import Broker, mosquitto_client
from tests.support.probe import MqttProbe, received


def mosquitto_pub(broker: Broker, topic: str, message: str) -> None:
    subprocess.run(
        [
            mosquitto_client("mosquitto_pub"),
            "-p",
            str(broker.port),
            "-t",
            topic,
            "-m",
            message,
            "-q",
            "1",
        ],
        check=True,
        timeout=10,
    )


async def test_a_setpoint_from_mosquitto_pub_is_persisted_and_republished(
    api: TestClient, fermenter: dict[str, Any], broker: Broker, probe: MqttProbe
) -> None:
    probe.subscribe("maelstrom/config/loops/fv1")
    mark = probe.mark()
    mosquitto_pub(broker, "maelstrom/cmd/loops/fv1/setpoint", "20.5")
    msg = await received(
        probe, "maelstrom/config/loops/fv1", lambda m: m.json()["setpoint"] == 20.5, since=mark
    )
    assert msg.json()["version"] == fermenter["version"] + 1
    resp = await api.get("/api/loops/fv1")
    assert (await resp.json())["setpoint"] == 20.5

    # and it is retained: a late subscriber (the controller after a restart) sees it
    late = MqttProbe(broker.port)
    try:
        late.subscribe("maelstrom/config/loops/fv1")
        retained = await received(late, "maelstrom/config/loops/fv1")
        assert retained.retain and retained.json()["setpoint"] == 20.5
    finally:
        late.close()


async def test_home_assistant_modes_and_json_payloads(
    api: TestClient, fermenter: dict[str, Any], broker: Broker, probe: MqttProbe
) -> None:
    probe.subscribe("maelstrom/config/loops/fv1")
    mosquitto_pub(broker, "maelstrom/cmd/loops/fv1/mode", "off")
    await received(probe, "maelstrom/config/loops/fv1", lambda m: m.json()["mode"] == "off")
    mosquitto_pub(broker, "maelstrom/cmd/loops/fv1/mode", "heat")  # Home Assistant's word
    await received(probe, "maelstrom/config/loops/fv1", lambda m: m.json()["mode"] == "constant")
    mosquitto_pub(
        broker, "maelstrom/cmd/loops/fv1/profile", '{"action": "start", "profile": "ale"}'
    )
    msg = await received(
        probe, "maelstrom/config/loops/fv1", lambda m: m.json()["mode"] == "profile"
    )
    assert msg.json()["profile"]["profile"] == "ale"


@pytest.mark.parametrize(
    ("command", "payload"),
    [
        ("setpoint", "boiling"),
        ("setpoint", "80"),  # above the loop's setpoint_max of 30
        ("mode", "turbo"),
        ("output", "-500"),
        ("profile", "{not json"),
        ("frobnicate", "1"),
    ],
)
async def test_a_bad_command_is_logged_and_dropped(
    api: TestClient,
    fermenter: dict[str, Any],
    broker: Broker,
    probe: MqttProbe,
    command: str,
    payload: str,
) -> None:
    probe.subscribe("maelstrom/logs/api")
    mark = probe.mark()
    mosquitto_pub(broker, f"maelstrom/cmd/loops/fv1/{command}", payload)
    log = await received(
        probe,
        "maelstrom/logs/api",
        lambda m: f"cmd/loops/fv1/{command}" in m.json()["message"],
        since=mark,
    )
    assert log.json()["level"] == "warning"
    resp = await api.get("/api/loops/fv1")
    assert await resp.json() == fermenter  # nothing changed, API still answers


async def test_a_command_for_an_unknown_loop_is_logged(
    api: TestClient, broker: Broker, probe: MqttProbe
) -> None:
    probe.subscribe("maelstrom/logs/api")
    mosquitto_pub(broker, "maelstrom/cmd/loops/ghost/setpoint", "20")
    log = await received(probe, "maelstrom/logs/api", lambda m: "ghost" in m.json()["message"])
    assert "no loop 'ghost'" in log.json()["message"]


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


async def test_a_command_that_changes_nothing_is_still_echoed(
    api: TestClient, fermenter: dict[str, Any], broker: Broker, probe: MqttProbe
) -> None:
    probe.subscribe("maelstrom/config/loops/fv1")
    await received(probe, "maelstrom/config/loops/fv1")
    mark = probe.mark()
    mosquitto_pub(broker, "maelstrom/cmd/loops/fv1/mode", "constant")  # it already is
    msg = await received(probe, "maelstrom/config/loops/fv1", since=mark)
    assert msg.json() == fermenter  # same config, same version: nothing was stored


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
