"""Every Home Assistant control the whole way round, with the real services: each is
sent exactly as Home Assistant sends it (from its discovery config: payload_press,
command_template, a bare number), the controller applies it, and the answer comes
back on the topic and through the template Home Assistant reads."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.homeassistant.ha_rules import TEMPLATES, problems, render
from tests.homeassistant.samples import FERMENTER
from tests.homeassistant.test_round_trip import DEVICE as UNWIRED
from tests.homeassistant.test_round_trip import Api
from tests.support.broker import Broker
from tests.support.probe import MqttProbe, Received
from tests.support.services import Service

NODE = "maelstrom_loop_fermenter"
DEVICE = UNWIRED | {
    "actuators": [
        {"id": "heater", "role": "heater", "channel": 1},
        {"id": "cooler", "role": "cooler", "channel": 2},
    ]
}
"""The simulated fermenter's heater and cooler on the channels its plant listens to."""
LOOP = FERMENTER.model_dump(mode="json", exclude={"version"}) | {
    "compressor": {"dead_time_s": 0}  # heat at once after the controller starts
}
ALE = {
    "id": "ale",
    "name": "Ale",
    "points": [{"offset": 0, "temperature": 18.0}, {"offset": 7 * 86400, "temperature": 21.0}],
}


@pytest.fixture
def running(broker: Broker, tmp_path: Path, probe: MqttProbe) -> Iterator[Api]:
    api = Api(broker, tmp_path).start()
    controller = Service("services.controller", api.env, tmp_path / "controller.log")
    try:
        probe.subscribe("homeassistant/#")
        probe.subscribe("maelstrom/data/fermenter")
        probe.subscribe("maelstrom/target/fermenter")
        api.call("POST", "/api/profiles", ALE)
        api.call("POST", "/api/devices", DEVICE)
        api.call("POST", "/api/loops", LOOP)
        yield api
    finally:
        controller.stop()
        api.stop()


def entity(probe: MqttProbe, component: str, key: str, ready: Any = None) -> dict[str, Any]:
    topic = f"homeassistant/{component}/{NODE}/{key}/config"
    found = probe.wait_for(
        topic, lambda m: bool(m.payload) and (ready is None or ready(m.json())), timeout=20
    )
    assert problems(found.topic, found.json()) == []
    return found.json()


def press(probe: MqttProbe, button: dict[str, Any]) -> int:
    mark = probe.mark()
    probe.publish(button["command_topic"], button["payload_press"], qos=button["qos"])
    return mark


def shown(
    probe: MqttProbe, config: dict[str, Any], expected: str, since: int, template: str = ""
) -> Received:
    """Wait until the entity's template renders `expected` from a message on its state topic."""
    template = template or config["value_template"]
    return probe.wait_for(
        config["state_topic"],
        lambda m: bool(m.payload) and render(template, m.text) == expected,
        since=since,
        timeout=15,
    )


def test_every_control_round_trips_through_api_and_controller(
    running: Api, probe: MqttProbe
) -> None:
    select = entity(probe, "select", "profile", lambda p: "Ale" in p["options"])
    buttons = {
        key: entity(probe, "button", key)
        for key in ("profile_start", "profile_pause", "profile_resume", "profile_stop", "manual_mode", "ack")
    }  # fmt: skip
    number = entity(probe, "number", "manual_output")
    climate = entity(probe, "climate", "climate")
    ends = entity(probe, "sensor", "profile_ends")
    last_error = entity(probe, "sensor", "last_error")
    alarm = entity(probe, "binary_sensor", "alarm")
    heater_relay = entity(probe, "binary_sensor", "heater_relay")
    probe.wait_for("maelstrom/target/fermenter", timeout=15)  # the controller runs the loop

    # Select a program: the select shows it, the thermostat follows it (auto).
    mark = probe.mark()
    command = TEMPLATES.from_string(select["command_template"]).render(value="Ale")
    probe.publish(select["command_topic"], command, qos=select["qos"])
    shown(probe, select, "Ale", mark)
    state = probe.wait_for(
        climate["mode_state_topic"],
        lambda m: render(climate["mode_state_template"], m.text) == "auto",
        since=mark,
        timeout=15,
    )
    ends_at = render(ends["value_template"], state.text)
    assert ends_at.endswith(":00+00:00"), ends_at  # a week from now, to the minute

    # Pause: the run stops its clock, so nobody knows when it ends; resume; stop.
    mark = press(probe, buttons["profile_pause"])
    shown(probe, ends, "None", mark)
    mark = press(probe, buttons["profile_resume"])
    probe.wait_for(
        ends["state_topic"],
        lambda m: render(ends["value_template"], m.text) not in ("None", ""),
        since=mark,
        timeout=15,
    )
    mark = press(probe, buttons["profile_stop"])
    shown(probe, select, "none", mark)

    # Start again from the button (the loop's last profile is forgotten on stop: refused).
    mark = press(probe, buttons["profile_start"])
    refusal = shown(
        probe, last_error, "profile: profile start: say which profile ('profile': id)", mark
    )
    assert json.loads(render(last_error["json_attributes_template"], refusal.text))["by"] == "mqtt"

    # A mode the controller refuses: the card reverts and the reason stays readable.
    mark = probe.mark()
    probe.publish(climate["mode_command_topic"], "auto", qos=climate["qos"])
    shown(probe, last_error, "mode: mode profile: start a profile first (command 'profile')", mark)

    # Manual output, then manual mode; an accepted command clears the refusal.
    mark = probe.mark()
    probe.publish(number["command_topic"], "60", qos=number["qos"])
    shown(probe, number, "60.0", mark)
    shown(probe, last_error, "none", mark)
    mark = press(probe, buttons["manual_mode"])
    probe.wait_for(
        "maelstrom/data/fermenter", lambda m: m.json()["mode"] == "manual", since=mark, timeout=15
    )
    # The heater's relay as the board acknowledged it, not the PID's wish.
    shown(probe, heater_relay, "ON", mark)
    target = probe.wait_for("maelstrom/target/fermenter", since=mark, timeout=5)
    # Manual mode has no setpoint in force, yet the card shows the one it will hold: the
    # 18 °C the stopped profile had reached.
    assert render(climate["temperature_state_template"], target.text) == "18.0"

    # An alarm that clears by itself stays a problem until someone acknowledges it.
    mark = probe.mark()
    running.call("PATCH", "/api/loops/fermenter", {"alarms": {"high": 0}})
    shown(probe, alarm, "ON", mark)
    mark = probe.mark()
    running.call("PATCH", "/api/loops/fermenter", {"alarms": {"high": None}})
    cleared = probe.wait_for(
        "maelstrom/data/fermenter",
        lambda m: not m.json()["alarms"] and m.json()["alarm_details"],
        since=mark,
        timeout=15,
    )
    assert render(alarm["value_template"], cleared.text) == "ON"
    [detail] = json.loads(render(alarm["json_attributes_template"], cleared.text))["alarms"]
    assert detail["id"] == "fermenter-high" and not detail["active"]
    assert not detail["acknowledged"] and detail["severity"] == "high"
    assert "above the high limit" in detail["message"]
    mark = press(probe, buttons["ack"])
    shown(probe, alarm, "OFF", mark)


def test_the_board_shows_connected_with_its_firmware_and_the_services_their_status(
    running: Api, probe: MqttProbe
) -> None:
    probe.subscribe("maelstrom/status/#")
    link = probe.wait_for(
        "homeassistant/binary_sensor/maelstrom_device_chamber/_connected/config",
        lambda m: bool(m.payload) and bool(m.json()["device"].get("sw_version")),
        timeout=20,
    ).json()
    assert (
        problems("homeassistant/binary_sensor/maelstrom_device_chamber/_connected/config", link)
        == []
    )
    status = probe.wait_for(link["state_topic"], lambda m: bool(m.payload), timeout=10)
    assert render(link["value_template"], status.text) == "ON"
    assert status.json()["firmware"] == link["device"]["sw_version"]
    for service in ("controller", "api"):
        sensor = entity_of(
            probe, f"homeassistant/binary_sensor/maelstrom_system_system/{service}_online/config"
        )
        seen = probe.wait_for(sensor["state_topic"], lambda m: bool(m.payload), timeout=10)
        assert seen.text == sensor["payload_on"]


def entity_of(probe: MqttProbe, topic: str) -> dict[str, Any]:
    found = probe.wait_for(topic, lambda m: bool(m.payload), timeout=20)
    assert problems(found.topic, found.json()) == []
    return found.json()
