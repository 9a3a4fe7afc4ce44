"""Every discovery message against Home Assistant's documented rules, and every template
rendered as Home Assistant renders it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from services.api.homeassistant.discovery import (
    Discovery,
    DiscoverySettings,
    device_discovery,
    loop_discovery,
    loop_topics,
    profile_options,
    system_discovery,
)
from services.common.config import Config
from services.common.schema.commands import (
    AckCommand,
    ModeCommand,
    SetpointCommand,
    parse_loop_command,
)
from services.common.schema.config import Device, Loop, LoopMode, Profile
from services.common.schema.state import LoopActivity, LoopState, SensorReading
from services.common.topics import DiscoveryTopics, TopicError
from tests.homeassistant import ha_rules
from tests.homeassistant.ha_rules import problems, render
from tests.homeassistant.samples import (
    CHAMBER,
    DEVICES,
    FERMENTER,
    ISPINDEL,
    KETTLE,
    LAGER,
    LOOPS,
    PROFILES,
    loop_state,
    loop_target,
)

SETTINGS = DiscoverySettings.from_config(Config())
CUSTOM = DiscoverySettings.from_config(
    Config.from_env({"MAELSTROM_TOPIC_PREFIX": "brewery/tank.7", "MAELSTROM_HA_PREFIX": "ha/disc"})
)


def everything(settings: DiscoverySettings = SETTINGS) -> list[Discovery]:
    messages = [m for loop in LOOPS for m in loop_discovery(loop, settings, PROFILES)]
    messages += system_discovery(settings)
    return messages + [m for device in DEVICES for m in device_discovery(device, settings)]


def target(**fields: Any) -> dict[str, Any]:
    return loop_target(**fields)


def one(messages: list[Discovery], suffix: str) -> dict[str, Any]:
    [found] = [m.payload for m in messages if m.topic.endswith(suffix)]
    return found


def state(**fields: Any) -> dict[str, Any]:
    """A LoopState the schema accepts, as JSON travels."""
    return LoopState.model_validate(loop_state(**fields)).model_dump(mode="json")


# --- the rules ------------------------------------------------------------------------------------


@pytest.mark.parametrize("settings", [SETTINGS, CUSTOM], ids=["default", "custom-prefixes"])
def test_every_message_follows_home_assistants_rules(settings: DiscoverySettings) -> None:
    prefix = settings.discovery.prefix
    messages = everything(settings)
    # Per loop: thermostat, alarm, 6 sensors (profile progress, remaining, ends at, step,
    # step ends at, last refused), 7 buttons, the profile select, the manual output, and per actuator
    # (fermenter 2, kettle 1, lager 1) a demand sensor and a relay; the system's two
    # connectivity sensors; per board: one sensor per probe, and for the two on a serial
    # line (real or simulated) whether it is connected and its firmware.
    assert (
        len(messages)
        == 3 * (2 + 6 + 7 + 2) + 2 * (2 + 1 + 1) + 2 + len(CHAMBER.sensors) + 2 + 2 + 2 * 2
    )
    for message in messages:
        assert problems(message.topic, message.payload, prefix) == [], message.topic
        # It survives the trip as JSON, degree sign and all.
        assert json.loads(json.dumps(message.payload, ensure_ascii=False)) == message.payload


def test_unique_ids_and_topics_are_unique_even_for_ids_that_look_alike() -> None:
    lookalikes = [
        Device.model_validate({"id": "a_b", "kind": "simulated", "sensors": [{"id": "c"}]}),
        Device.model_validate({"id": "a", "kind": "simulated", "sensors": [{"id": "b_c"}]}),
        # a loop and a board may share an id
        Device.model_validate({"id": "fermenter", "kind": "simulated", "sensors": [{"id": "x"}]}),
    ]
    messages = everything() + [m for d in lookalikes for m in device_discovery(d, SETTINGS)]
    unique_ids = [m.payload["unique_id"] for m in messages]
    topics = [m.topic for m in messages]
    assert len(set(unique_ids)) == len(unique_ids)
    assert len(set(topics)) == len(topics)


def test_discovery_topics_refuse_ids_home_assistant_would_not_match() -> None:
    topics = DiscoveryTopics("homeassistant")
    assert (
        topics.config("sensor", "node-1", "beer_2") == "homeassistant/sensor/node-1/beer_2/config"
    )
    assert topics.status == "homeassistant/status"
    for bad in ("beer probe", "beer.2", "a/b", "", "bière", "beer\n"):
        with pytest.raises(TopicError):
            topics.config("sensor", "node", bad)


def test_no_deprecated_object_id_anywhere() -> None:
    for message in everything():
        assert "object_id" not in message.payload and "default_entity_id" not in message.payload


def test_the_rules_catch_what_home_assistant_refuses() -> None:
    """The checker must not be vacuous: each broken message is caught."""
    messages = loop_discovery(FERMENTER, SETTINGS, PROFILES)
    climate = one(messages, "/climate/config")
    sensor = one(device_discovery(CHAMBER, SETTINGS), "/beer/config")
    good_topic = "homeassistant/climate/maelstrom_loop_fermenter/climate/config"
    sensor_topic = "homeassistant/sensor/maelstrom_device_chamber/beer/config"
    select, select_topic = _with_topic(messages, "/select/")
    button, button_topic = _with_topic(messages, "/profile_pause/")
    number, number_topic = _with_topic(messages, "/manual_output/")
    ends, ends_topic = _with_topic(messages, "/profile_ends/")
    demand, demand_topic = _with_topic(messages, "/cool_output/")
    relay, relay_topic = _with_topic(messages, "/cooler_relay/")
    assert [problems(t, p) for t, p in ((select_topic, select), (button_topic, button), (number_topic, number), (ends_topic, ends), (demand_topic, demand), (relay_topic, relay))] == [[]] * 6  # fmt: skip
    without = lambda payload, key: {k: v for k, v in payload.items() if k != key}  # noqa: E731
    broken = [
        (select_topic, without(select, "options"), "options"),
        (select_topic, select | {"options": []}, "options"),
        (select_topic, select | {"options": ["none", "none"]}, "repeat"),
        (select_topic, without(select, "command_topic"), "command_topic"),
        (select_topic, select | {"min": 0}, "documented"),
        (button_topic, without(button, "command_topic"), "command_topic"),
        (button_topic, button | {"device_class": "restart_now"}, "device_class"),
        (button_topic, button | {"state_topic": "a/b"}, "documented"),
        (number_topic, number | {"min": 100, "max": -100}, "min"),
        (number_topic, number | {"step": 0}, "step"),
        (number_topic, number | {"mode": "dial"}, "mode"),
        (number_topic, without(number, "command_topic"), "command_topic"),
        (number_topic, number | {"options": ["a"]}, "documented"),
        (ends_topic, ends | {"unit_of_measurement": "s"}, "non-numeric"),
        (ends_topic, ends | {"state_class": "measurement"}, "non-numeric"),
        (demand_topic, demand | {"entity_category": "config"}, "config"),
        (demand_topic, demand | {"entity_category": "diagnostics"}, "entity_category"),
        (relay_topic, relay | {"device_class": "relay"}, "device_class"),
        (good_topic, climate | {"object_id": "fermenter"}, "deprecated"),
        (good_topic, climate | {"precision": 0.2}, "precision"),
        (good_topic, climate | {"modes": ["off", "warm"]}, "HVAC mode"),
        (good_topic, climate | {"temperature_unit": "°C"}, "temperature_unit"),
        (good_topic, climate | {"min_temp": 40, "max_temp": 30}, "min_temp"),
        (good_topic, climate | {"mode_state_template": "{{ value_json.mode"}, "template"),
        (good_topic, climate | {"temperature_command_topic": "a/+/b"}, "topic"),
        (good_topic, climate | {"colour": "red"}, "documented"),
        (good_topic, {k: v for k, v in climate.items() if k != "unique_id"}, "unique_id"),
        (good_topic, climate | {"origin": {"sw_version": "1"}}, "origin"),
        (good_topic, climate | {"device": {"name": "x"}}, "identifiers"),
        (good_topic, climate | {"availability_mode": "most"}, "availability_mode"),
        ("homeassistant/climate/maelstrom loop/climate/config", climate, "<component>"),
        ("homeassistant/thermostat/n/o/config", climate, "component"),
        (sensor_topic, sensor | {"unit_of_measurement": "\u00baC"}, "unit"),
        (sensor_topic, sensor | {"unit_of_measurement": "\u2103"}, "unit"),
        (sensor_topic, {k: v for k, v in sensor.items() if k != "state_topic"}, "state_topic"),
        (sensor_topic, sensor | {"state_class": "average"}, "state_class"),
    ]
    for topic, payload, why in broken:
        found = problems(topic, payload)
        assert any(why in p for p in found), (why, found)


def _with_topic(messages: list[Discovery], part: str) -> tuple[dict[str, Any], str]:
    [found] = [m for m in messages if part in m.topic]
    return found.payload, found.topic


# --- the thermostat ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("loop", "modes"),
    [
        (KETTLE, ["off", "heat", "auto"]),
        (LAGER, ["off", "cool", "auto"]),
        (FERMENTER, ["off", "heat_cool", "auto"]),
    ],
    ids=["heater-only", "cooler-only", "heater-and-cooler"],
)
def test_modes_follow_the_loops_actuators(loop: Loop, modes: list[str]) -> None:
    climate = one(loop_discovery(loop, SETTINGS), "/climate/config")
    assert climate["modes"] == modes


@pytest.mark.parametrize("loop", LOOPS, ids=lambda loop: loop.id)
def test_every_mode_round_trips_home_assistant_to_loop_and_back(loop: Loop) -> None:
    """HA sends its mode → our parser turns it into a loop mode → the controller
    reports that mode → the state template shows HA the mode it asked for."""
    climate = one(loop_discovery(loop, SETTINGS), "/climate/config")
    expected = {"off": LoopMode.off, "auto": LoopMode.profile}
    for ha_mode in climate["modes"]:
        command = parse_loop_command("mode", ha_mode.encode())
        assert command == ModeCommand(value=expected.get(ha_mode, LoopMode.constant))
        shown = render(climate["mode_state_template"], state(mode=command.value))
        assert shown == ha_mode


def test_manual_output_shows_as_the_constant_mode() -> None:
    for loop, shown in ((KETTLE, "heat"), (LAGER, "cool"), (FERMENTER, "heat_cool")):
        climate = one(loop_discovery(loop, SETTINGS), "/climate/config")
        assert render(climate["mode_state_template"], state(mode="manual", sp=None)) == shown


@pytest.mark.parametrize(
    ("activity", "action"),
    [
        ("heating", "heating"),
        ("cooling", "cooling"),
        ("idle", "idle"),
        ("waiting", "idle"),
        ("off", "off"),
        ("fault", "off"),
    ],
)
def test_action_follows_what_the_loop_is_doing(activity: str, action: str) -> None:
    climate = one(loop_discovery(FERMENTER, SETTINGS), "/climate/config")
    assert render(climate["action_template"], state(state=activity)) == action
    assert action in ha_rules.HVAC_ACTIONS


def test_every_activity_has_an_action() -> None:
    climate = one(loop_discovery(FERMENTER, SETTINGS), "/climate/config")
    for activity in LoopActivity:
        assert render(climate["action_template"], state(state=activity)) in ha_rules.HVAC_ACTIONS


def test_thermostat_reads_and_sets_our_own_topics() -> None:
    climate = one(loop_discovery(FERMENTER, SETTINGS), "/climate/config")
    assert climate["current_temperature_topic"] == "maelstrom/data/fermenter"
    # The target (owned by the controller), so the setpoint shows in every mode.
    assert climate["temperature_state_topic"] == "maelstrom/target/fermenter"
    assert climate["temperature_command_topic"] == "maelstrom/cmd/loops/fermenter/setpoint"
    assert climate["mode_command_topic"] == "maelstrom/cmd/loops/fermenter/mode"
    assert climate["availability"][0]["topic"] == "maelstrom/status/controller"
    assert (climate["min_temp"], climate["max_temp"]) == (-2.0, 30.0)
    assert (climate["temp_step"], climate["precision"], climate["temperature_unit"]) == (
        0.1,
        0.1,
        "C",
    )
    assert climate["name"] is None and climate["device"]["name"] == "Fermenter"
    # Rounded as the card shows it: a reading's last digits do not make a new state row.
    assert render(climate["current_temperature_template"], state(pv=18.94)) == "18.9"
    held = state(pv=18.94, pv_display=19.1)  # the last digit flickers: the shown one holds
    assert render(climate["current_temperature_template"], held) == "19.1"
    for mode in ("off", "manual", "constant", "profile"):
        held = target(mode=mode, setpoint=19.5)
        assert render(climate["temperature_state_template"], held) == "19.5"
    # Home Assistant sends the target as a bare number; that is a setpoint to us.
    assert parse_loop_command("setpoint", b"19.5") == SetpointCommand(value=19.5)


def test_unusable_reading_and_no_setpoint_show_as_unknown() -> None:
    """Home Assistant turns a rendered "None" into an unknown value."""
    climate = one(loop_discovery(FERMENTER, SETTINGS), "/climate/config")
    blank = state(pv=None, sp=None, mode="off", state="fault")
    assert render(climate["current_temperature_template"], blank) == "None"


def test_loop_attributes_carry_our_own_mode_and_state() -> None:
    climate = one(loop_discovery(FERMENTER, SETTINGS), "/climate/config")
    rendered = render(
        climate["json_attributes_template"],
        state(
            mode="constant",
            state="waiting",
            waiting_reason="cooler: minimum off time",
            waiting_until=1795550800,
        ),
    )
    assert json.loads(rendered) == {
        "mode": "constant",
        "state": "waiting",
        "waiting_reason": "cooler: minimum off time",
        "waiting_until": 1795550800,
    }


# --- alarms, profile, outputs ----------------------------------------------------------------------


def test_alarm_is_a_problem_while_any_alarm_is_active_or_cleared_unacknowledged() -> None:
    alarm = one(loop_discovery(FERMENTER, SETTINGS), "/alarm/config")
    assert alarm["device_class"] == "problem"
    detail = {
        "id": "fermenter-sensor",
        "message": "Fermenter: sensor chamber/beer stale; outputs off",
        "severity": "high",
        "active": True,
        "raised_at": 1795550000.0,
        "acknowledged": False,
    }
    assert render(alarm["value_template"], state(alarms=[])) == "OFF"
    active = state(alarms=["fermenter-sensor"], alarm_details=[detail])
    assert render(alarm["value_template"], active) == "ON"
    # The probe came back at 3 am: cleared, but nobody has seen it yet.
    cleared = state(alarms=[], alarm_details=[detail | {"active": False}])
    assert render(alarm["value_template"], cleared) == "ON"
    attributes = json.loads(render(alarm["json_attributes_template"], cleared))
    assert attributes["alarms"] == [detail | {"active": False}]
    assert attributes["alarms"][0]["message"].startswith("Fermenter: sensor")
    ack = one(loop_discovery(FERMENTER, SETTINGS), "/ack/config")
    assert ack["command_topic"] == "maelstrom/cmd/loops/fermenter/ack"


def test_profile_progress_and_time_remaining() -> None:
    messages = loop_discovery(FERMENTER, SETTINGS)
    progress = one(messages, "/profile_progress/config")
    remaining = one(messages, "/profile_remaining/config")
    running = state(
        mode="profile",
        profile={
            "profile": "ale",
            "name": "Ale 10 days",
            "step": 1,
            "steps": 5,
            "elapsed_s": 86400,
            "remaining_s": 9 * 86400,
            "next_setpoint": 21.0,
            "next_at": 1795800000,
        },
    )
    assert render(progress["value_template"], running) == "10.0"
    assert render(remaining["value_template"], running) == "216.0"
    ends = one(messages, "/profile_ends/config")
    step = one(messages, "/profile_step/config")
    assert ends["device_class"] == "timestamp"
    running["profile"]["ends_at"] = 1796464800.0
    assert render(ends["value_template"], running) == "2026-12-05T10:00:00+00:00"
    assert render(step["value_template"], running) == "2 of 5"
    step_ends = one(messages, "/step_ends/config")
    assert step_ends["device_class"] == "timestamp"
    assert render(step_ends["value_template"], running) == "2026-11-27T17:20:00+00:00"
    running["profile"] |= {"ends_at": None, "paused": True}
    assert render(ends["value_template"], running) == "None"
    assert render(step_ends["value_template"], running) == "None"
    assert remaining["device_class"] == "duration" and remaining["unit_of_measurement"] == "h"
    attributes = json.loads(render(progress["json_attributes_template"], running))
    assert attributes["name"] == "Ale 10 days" and attributes["next_setpoint"] == 21.0
    idle = state(profile=None)
    assert render(progress["value_template"], idle) == "None"
    assert render(remaining["value_template"], idle) == "None"
    assert render(ends["value_template"], idle) == "None"
    assert render(step["value_template"], idle) == "None"
    assert json.loads(render(progress["json_attributes_template"], idle)) == {}


def test_outputs_only_for_the_actuators_a_loop_has() -> None:
    keys = {m.topic.split("/")[-2] for m in loop_discovery(KETTLE, SETTINGS)}
    assert "heat_output" in keys and "cool_output" not in keys
    keys = {m.topic.split("/")[-2] for m in loop_discovery(LAGER, SETTINGS)}
    assert "cool_output" in keys and "heat_output" not in keys
    heat = one(loop_discovery(FERMENTER, SETTINGS), "/heat_output/config")
    assert heat["name"] == "Heating demand" and heat["entity_category"] == "diagnostic"
    assert render(heat["value_template"], state(output={"heat": 42.4, "cool": 0})) == "42.0"


def test_deleting_a_loop_clears_every_entity_it_could_have() -> None:
    for loop in LOOPS:
        published = {m.topic for m in loop_discovery(loop, SETTINGS)}
        assert published <= set(loop_topics(loop.id, SETTINGS))


# --- probes ----------------------------------------------------------------------------------------------


def test_temperature_probes_are_temperature_sensors_with_the_real_degree_sign() -> None:
    beer = one(device_discovery(CHAMBER, SETTINGS), "/beer/config")
    assert beer["device_class"] == "temperature"
    assert beer["state_class"] == "measurement"
    assert beer["unit_of_measurement"] == "\u00b0C"
    assert beer["state_topic"] == "maelstrom/data/sensors/chamber/beer"
    assert beer["device"]["name"] == "Chamber board" and beer["device"]["model"] == "Serial board"
    reading = SensorReading(value=19.8125, ts=1.0).model_dump(mode="json")
    assert render(beer["value_template"], reading) == "19.8125"


def test_gravity_is_a_sensor_without_a_temperature_class() -> None:
    gravity = one(device_discovery(ISPINDEL, SETTINGS), "/gravity/config")
    assert "device_class" not in gravity
    assert gravity["unit_of_measurement"] == "SG"
    assert gravity["device"]["model"] == "iSpindel"
    reading = SensorReading(value=1.048, unit="SG", ts=1.0).model_dump(mode="json")
    assert render(gravity["value_template"], reading) == "1.048"


def test_gravity_left_at_the_default_unit_gets_no_unit() -> None:
    sim = [m.payload for m in device_discovery(DEVICES[2], SETTINGS)]
    [gravity] = [p for p in sim if p["unique_id"].endswith(":gravity")]
    assert "device_class" not in gravity and "unit_of_measurement" not in gravity


def test_a_probe_is_unavailable_while_it_reads_nothing() -> None:
    beer = one(device_discovery(CHAMBER, SETTINGS), "/beer/config")
    controller, probe = beer["availability"]
    assert controller["topic"] == "maelstrom/status/controller"
    assert probe["topic"] == beer["state_topic"] and beer["availability_mode"] == "all"
    lost = SensorReading(value=None, error="disconnected", ts=1.0).model_dump(mode="json")
    good = SensorReading(value=19.5, ts=1.0).model_dump(mode="json")
    assert render(probe["value_template"], lost) == "offline"
    assert render(probe["value_template"], good) == "online"
    assert render(beer["value_template"], lost) == "None"


def test_entity_names_do_not_repeat_the_device_name() -> None:
    names = {m.payload["unique_id"].rsplit(":", 1)[-1]: m.payload["name"] for m in device_discovery(CHAMBER, SETTINGS)}  # fmt: skip
    assert names == {"beer": "Beer", "mash": "mash probe", "air": "air", "_connected": "Connected", "_firmware": "Firmware"}  # fmt: skip


def test_a_board_shows_its_link_and_firmware_from_its_status() -> None:
    messages = device_discovery(CHAMBER, SETTINGS, firmware="2.1.0")
    link = one(messages, "/_connected/config")
    firmware = one(messages, "/_firmware/config")
    assert link["state_topic"] == "maelstrom/status/devices/chamber"
    assert (link["device_class"], link["entity_category"]) == ("connectivity", "diagnostic")
    status = {"device": "chamber", "online": True, "board": "nano", "firmware": "2.1.0", "ts": 1.0}
    assert render(link["value_template"], status) == "ON"
    assert render(link["value_template"], status | {"online": False, "reason": "silent"}) == "OFF"
    assert render(firmware["value_template"], status) == "2.1.0"
    assert link["device"]["sw_version"] == "2.1.0"
    assert not any("_connected" in m.topic for m in device_discovery(ISPINDEL, SETTINGS))


# --- profile controls, manual output, relays, refusals ----------------------------------------


def test_profile_select_offers_every_profile_and_none_and_sends_start_or_stop() -> None:
    select = one(
        loop_discovery(FERMENTER, SETTINGS, PROFILES),
        "/select/maelstrom_loop_fermenter/profile/config",
    )
    assert select["options"] == ["none", "Ale 10 days", "crash", "Lager"]
    assert select["state_topic"] == "maelstrom/target/fermenter"
    assert select["command_topic"] == "maelstrom/cmd/loops/fermenter/profile"
    run = {"profile": "ale", "started_at": 1795550000.0}
    assert render(select["value_template"], target(mode="profile", profile=run)) == "Ale 10 days"
    assert render(select["value_template"], target(profile=None)) == "none"
    # A run of a profile that is gone shows as none, never as an option HA does not know.
    gone = target(mode="profile", profile=run | {"profile": "deleted"})
    assert render(select["value_template"], gone) == "none"
    for option, profile_id in profile_options(PROFILES).items():
        sent = _render_command(select["command_template"], option)
        assert json.loads(sent) == {"action": "start", "profile": profile_id}
        assert parse_loop_command("profile", sent.encode()).profile == profile_id
    assert parse_loop_command("profile", _render_command(select["command_template"], "none").encode()).action == "stop"  # fmt: skip


def test_profile_options_stay_distinct_when_names_clash() -> None:
    clash = {
        pid: Profile.model_validate({"id": pid, "name": name, "points": [{"offset": 0, "temperature": 1}]})
        for pid, name in (("a", "Same"), ("b", "Same"), ("c", "None"), ("d", ""))
    }  # fmt: skip
    options = profile_options(clash)
    assert sorted(options) == ["a", "b", "c", "d"]  # the ids: names would collide or say none


def test_buttons_send_what_the_controller_understands() -> None:
    messages = loop_discovery(FERMENTER, SETTINGS, PROFILES)
    for key, action in (("profile_start", "start"), ("profile_pause", "pause"), ("profile_resume", "resume"), ("profile_stop", "stop")):  # fmt: skip
        button = one(messages, f"/{key}/config")
        assert button["command_topic"] == "maelstrom/cmd/loops/fermenter/profile"
        assert parse_loop_command("profile", button["payload_press"].encode()).action == action
    confirm = one(messages, "/confirm_step/config")
    assert json.loads(confirm["payload_press"]) == {"action": "confirm"}
    manual = one(messages, "/manual_mode/config")
    assert manual["command_topic"].endswith("/mode")
    assert parse_loop_command("mode", manual["payload_press"].encode()).value == LoopMode.manual
    ack = one(messages, "/ack/config")
    assert isinstance(parse_loop_command("ack", ack["payload_press"].encode()), AckCommand)


def test_manual_output_number_spans_only_what_the_loop_can_drive() -> None:
    for loop, span in ((FERMENTER, (-100, 100)), (KETTLE, (0, 100)), (LAGER, (-100, 0))):
        number = one(loop_discovery(loop, SETTINGS), "/manual_output/config")
        assert (number["min"], number["max"]) == span
        assert number["command_topic"] == f"maelstrom/cmd/loops/{loop.id}/output"
        assert render(number["value_template"], target(manual_output=-40.0)) == "-40.0"
        assert parse_loop_command("output", b"-40").value == -40


def test_relays_show_what_the_device_confirmed() -> None:
    relay = one(loop_discovery(FERMENTER, SETTINGS), "/cooler_relay/config")
    assert relay["device_class"] == "running"
    assert render(relay["value_template"], state(relays={"cooler": True})) == "ON"
    assert render(relay["value_template"], state(relays={"cooler": False})) == "OFF"
    assert render(relay["value_template"], state(relays={"cooler": None})) == "None"
    assert render(relay["value_template"], state(relays={})) == "None"
    keys = {m.topic.split("/")[-2] for m in loop_discovery(KETTLE, SETTINGS)}
    assert "heater_relay" in keys and "cooler_relay" not in keys


def test_last_refused_command_is_readable() -> None:
    sensor = one(loop_discovery(FERMENTER, SETTINGS), "/last_error/config")
    refused = {"command": "mode", "message": "mode profile: start a profile first", "by": "homeassistant", "ts": 1795550600}  # fmt: skip
    shown = render(sensor["value_template"], state(last_error=refused))
    assert shown == "mode: mode profile: start a profile first"
    assert (
        json.loads(render(sensor["json_attributes_template"], state(last_error=refused))) == refused
    )
    assert render(sensor["value_template"], state(last_error=None)) == "none"
    long = refused | {"message": "x" * 400}
    assert len(render(sensor["value_template"], state(last_error=long))) == 255


def test_devices_link_to_the_ui_and_through_board_to_controller() -> None:
    settings = DiscoverySettings.from_config(Config.from_env({"MAELSTROM_PUBLIC_URL": "http://brewery.local:8888/"}))  # fmt: skip
    loop = one(loop_discovery(FERMENTER, settings), "/climate/config")["device"]
    board = one(device_discovery(CHAMBER, settings), "/beer/config")["device"]
    [system, *_] = [m.payload["device"] for m in system_discovery(settings)]
    assert loop["configuration_url"] == "http://brewery.local:8888/"
    assert loop["via_device"] == board["identifiers"][0]
    assert board["via_device"] == system["identifiers"][0]
    assert "sw_version" not in board  # a board runs its own firmware, not ours
    assert loop["suggested_area"] == "Brewery"
    assert Config.from_env({}).public_url.endswith(":8888")  # links add their own path


def test_connectivity_stays_readable_when_the_service_is_gone() -> None:
    for message in system_discovery(SETTINGS):
        payload = message.payload
        assert payload["device_class"] == "connectivity"
        assert payload["entity_category"] == "diagnostic"
        assert "availability" not in payload
        assert (payload["payload_on"], payload["payload_off"]) == ("online", "offline")
    topics = [m.payload["state_topic"] for m in system_discovery(SETTINGS)]
    assert topics == ["maelstrom/status/controller", "maelstrom/status/api"]


def _render_command(template: str, value: str) -> str:
    """A command_template as Home Assistant renders it: `value` is what was chosen."""
    return ha_rules.TEMPLATES.from_string(template).render(value=value).strip()
