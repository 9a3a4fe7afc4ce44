"""The discovery publisher against a real Mosquitto, driven only by MQTT as in production:
configuration arrives on the retained config topics, Home Assistant's side is a probe."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from services.api.homeassistant import HOMEASSISTANT, HomeAssistantDiscovery, setup_homeassistant
from services.api.homeassistant.discovery import Discovery, device_discovery, loop_discovery
from services.common.config import Config
from services.common.schema.commands import ModeCommand, SetpointCommand, parse_loop_command
from services.common.schema.config import Device, Loop, LoopMode
from services.common.web import CONFIG, MQTT, setup_mqtt
from tests.homeassistant.ha_rules import problems, render
from tests.homeassistant.samples import CHAMBER, FERMENTER, ISPINDEL, loop_state, loop_target
from tests.support.broker import Broker
from tests.support.probe import MqttProbe, Received, received
from tests.support.services import Service, service_env

HA = "homeassistant/#"


@pytest.fixture
async def discovery(config: Config) -> AsyncIterator[HomeAssistantDiscovery]:
    """The API's Home Assistant part with its MQTT client, started as the API starts it."""
    app = web.Application()
    app[CONFIG] = config
    setup_mqtt(app, "api")
    setup_homeassistant(app)
    runner = web.AppRunner(app)
    await runner.setup()
    client = app[MQTT]
    assert await client.wait_connected(10)
    topics = app[HOMEASSISTANT].settings.topics
    for topic_filter in (topics.all_config("loops"), topics.all_config("devices")):
        assert await client.wait_subscribed(topic_filter)
    yield app[HOMEASSISTANT]
    await runner.cleanup()


def configure(probe: MqttProbe, obj: Loop | Device) -> None:
    """Publish a loop or device as the Config API does: retained, on its config topic."""
    kind = "loops" if isinstance(obj, Loop) else "devices"
    probe.publish(f"maelstrom/config/{kind}/{obj.id}", obj.model_dump_json(), retain=True)


def delete(probe: MqttProbe, kind: str, object_id: str) -> None:
    probe.publish(f"maelstrom/config/{kind}/{object_id}", b"", retain=True)


def expected(discovery: HomeAssistantDiscovery, *objs: Loop | Device) -> list[Discovery]:
    out: list[Discovery] = []
    for obj in objs:
        if isinstance(obj, Loop):
            out += loop_discovery(obj, discovery.settings)
        else:
            out += device_discovery(obj, discovery.settings)
    return out


async def wait_all(
    probe: MqttProbe, messages: list[Discovery], since: int = 0
) -> dict[str, Received]:
    got = {}
    for m in messages:
        got[m.topic] = await received(
            probe, m.topic, lambda r, m=m: bool(r.payload) and r.json() == m.payload, since
        )
    return got


def climate_of(messages: list[Discovery]) -> dict[str, Any]:
    [climate] = [m.payload for m in messages if m.topic.endswith("/climate/config")]
    return climate


async def test_every_loop_and_probe_is_discovered_retained(
    discovery: HomeAssistantDiscovery, probe: MqttProbe, broker: Broker
) -> None:
    probe.subscribe(HA)
    configure(probe, FERMENTER)
    configure(probe, CHAMBER)
    configure(probe, ISPINDEL)
    messages = expected(discovery, FERMENTER, CHAMBER, ISPINDEL)
    got = await wait_all(probe, messages)
    for topic, message in got.items():
        assert problems(topic, message.json()) == []
    beer = got["homeassistant/sensor/maelstrom_device_chamber/beer/config"]
    assert b'"unit_of_measurement":"\xc2\xb0C"' in beer.payload  # UTF-8 degree sign, not \u00b0

    # Home Assistant starting later finds them all, retained.
    late = MqttProbe(broker.port)
    try:
        late.subscribe(HA)
        for m in messages:
            got_late = await received(late, m.topic)
            assert got_late.retain and got_late.json() == m.payload
    finally:
        late.close()


async def test_commands_as_home_assistant_sends_them_reach_the_loop(
    discovery: HomeAssistantDiscovery, probe: MqttProbe
) -> None:
    probe.subscribe(HA)
    probe.subscribe("maelstrom/cmd/#")
    configure(probe, FERMENTER)
    climate = climate_of(expected(discovery, FERMENTER))
    await wait_all(probe, expected(discovery, FERMENTER))

    # Home Assistant publishes the target temperature as a bare number.
    mark = probe.mark()
    probe.publish(climate["temperature_command_topic"], "19.5", qos=climate["qos"])
    sent = await received(probe, climate["temperature_command_topic"], since=mark)
    assert sent.topic == "maelstrom/cmd/loops/fermenter/setpoint"
    assert parse_loop_command("setpoint", sent.payload) == SetpointCommand(value=19.5)

    meaning = {"off": LoopMode.off, "heat_cool": LoopMode.constant, "auto": LoopMode.profile}
    for mode in climate["modes"]:
        mark = probe.mark()
        probe.publish(climate["mode_command_topic"], mode, qos=climate["qos"])
        sent = await received(probe, climate["mode_command_topic"], since=mark)
        assert parse_loop_command("mode", sent.payload) == ModeCommand(value=meaning[mode])

    # The controller echoes the setpoint on the target and the mode on the state, the
    # topics Home Assistant reads.
    probe.subscribe(climate["temperature_state_topic"])
    probe.subscribe(climate["mode_state_topic"])
    probe.publish("maelstrom/target/fermenter", json.dumps(loop_target(setpoint=19.5)), retain=True)
    probe.publish("maelstrom/data/fermenter", json.dumps(loop_state(sp=19.5)), retain=True)
    echoed = await received(probe, climate["temperature_state_topic"])
    assert render(climate["temperature_state_template"], echoed.text) == "19.5"
    state = await received(probe, climate["mode_state_topic"])
    assert render(climate["mode_state_template"], state.text) == "heat_cool"


async def test_home_assistant_coming_online_gets_every_config_again(
    discovery: HomeAssistantDiscovery, probe: MqttProbe
) -> None:
    probe.subscribe(HA)
    configure(probe, FERMENTER)
    configure(probe, ISPINDEL)
    messages = expected(discovery, FERMENTER, ISPINDEL)
    await wait_all(probe, messages)

    mark = probe.mark()
    probe.publish("homeassistant/status", "online")  # Home Assistant's birth message
    await wait_all(probe, messages, since=mark)


async def test_deleting_a_loop_or_device_removes_its_entities(
    discovery: HomeAssistantDiscovery, probe: MqttProbe, broker: Broker
) -> None:
    probe.subscribe(HA)
    configure(probe, FERMENTER)
    configure(probe, CHAMBER)
    loop_messages = expected(discovery, FERMENTER)
    await wait_all(probe, loop_messages + expected(discovery, CHAMBER))

    def emptied(since: int) -> Callable[[Discovery], Any]:
        return lambda m: received(probe, m.topic, lambda r: r.payload == b"", since)

    mark = probe.mark()
    delete(probe, "loops", "fermenter")
    await asyncio.gather(*map(emptied(mark), loop_messages))

    # A probe taken off the board: only its entity goes.
    mark = probe.mark()
    fewer = CHAMBER.model_copy(update={"sensors": CHAMBER.sensors[:2]})
    configure(probe, fewer)
    await received(
        probe,
        "homeassistant/sensor/maelstrom_device_chamber/air/config",
        lambda r: r.payload == b"",
        mark,
    )

    mark = probe.mark()
    delete(probe, "devices", "chamber")
    await asyncio.gather(*map(emptied(mark), expected(discovery, fewer)))

    # Nothing is left retained for a Home Assistant that starts now.
    fresh = MqttProbe(broker.port)
    try:
        fresh.subscribe(HA)
        fresh.subscribe("test/marker")
        probe.publish("test/marker", "after any retained message")
        await received(fresh, "test/marker")
        left = [m.topic for m in fresh.messages if m.topic.startswith("homeassistant/")]
        assert [t for t in left if "/maelstrom_system_system/" not in t] == []
    finally:
        fresh.close()


async def test_a_loop_that_loses_its_cooler_loses_cool_mode_and_output(
    discovery: HomeAssistantDiscovery, probe: MqttProbe
) -> None:
    probe.subscribe(HA)
    configure(probe, FERMENTER)
    await wait_all(probe, expected(discovery, FERMENTER))

    mark = probe.mark()
    heater_only = FERMENTER.model_copy(update={"cooler": None})
    configure(probe, heater_only)
    climate = await received(
        probe,
        "homeassistant/climate/maelstrom_loop_fermenter/climate/config",
        lambda r: r.json()["modes"] == ["off", "heat", "auto"],
        mark,
    )
    assert problems(climate.topic, climate.json()) == []
    await received(
        probe,
        "homeassistant/sensor/maelstrom_loop_fermenter/cool_output/config",
        lambda r: r.payload == b"",
        mark,
    )


async def test_bad_configuration_is_logged_and_dropped(
    discovery: HomeAssistantDiscovery, probe: MqttProbe
) -> None:
    probe.subscribe(HA)
    probe.subscribe("maelstrom/logs/#")
    probe.publish("maelstrom/config/loops/broken", b"{not json", retain=True)
    warning = await received(probe, "maelstrom/logs/api")
    assert warning.json()["level"] == "warning"
    assert "config/loops/broken" in warning.json()["message"]

    no_actuator = FERMENTER.model_dump(mode="json") | {"id": "bare", "heater": None, "cooler": None}
    mark = probe.mark()
    probe.publish("maelstrom/config/loops/bare", json.dumps(no_actuator), retain=True)
    warning = await received(probe, "maelstrom/logs/api", since=mark)
    assert "heater" in warning.json()["message"]

    mark = probe.mark()
    probe.publish("maelstrom/config/loops/other", FERMENTER.model_dump_json(), retain=True)
    warning = await received(probe, "maelstrom/logs/api", since=mark)
    assert "'fermenter'" in warning.json()["message"]

    mark = probe.mark()
    probe.publish("maelstrom/config/loops/Not an id", b"")
    warning = await received(probe, "maelstrom/logs/api", since=mark)
    assert "bad id" in warning.json()["message"]

    # Still working.
    configure(probe, FERMENTER)
    await wait_all(probe, expected(discovery, FERMENTER))
    assert not any("/bare/" in t or "_other/" in t or "_broken/" in t for t in discovery.published)


async def test_availability_follows_the_controller(
    discovery: HomeAssistantDiscovery, probe: MqttProbe, broker: Broker, tmp_path: Path
) -> None:
    probe.subscribe(HA)
    configure(probe, FERMENTER)
    climate = climate_of(expected(discovery, FERMENTER))
    await wait_all(probe, expected(discovery, FERMENTER))
    [availability] = climate["availability"]
    probe.subscribe(availability["topic"])

    def is_(payload: str) -> Callable[[Received], bool]:
        return lambda r: r.text == payload

    env = service_env(broker.url)
    for how in (signal.SIGKILL, signal.SIGTERM):  # a crash (last will), then a clean stop
        controller = Service("services.controller", env, tmp_path / f"controller-{how}.log")
        try:
            mark = probe.mark()
            await received(
                probe, availability["topic"], is_(availability["payload_available"]), mark, 20
            )
            mark = probe.mark()
            await asyncio.to_thread(controller.stop, how)
            await received(
                probe, availability["topic"], is_(availability["payload_not_available"]), mark
            )
        finally:
            controller.stop()


async def test_alarms_about_no_loop_get_their_own_entities_while_they_exist(
    discovery: HomeAssistantDiscovery, probe: MqttProbe
) -> None:
    probe.subscribe(HA)
    configure(probe, FERMENTER)
    configure(probe, CHAMBER)
    await wait_all(probe, expected(discovery, FERMENTER, CHAMBER))
    pilot = "homeassistant/binary_sensor/maelstrom_alarm_pilot-light/problem/config"
    board = "homeassistant/binary_sensor/maelstrom_alarm_chamber-offline/problem/config"
    record = {"message": "Pilot light out", "severity": "high", "state": "active", "raised_at": 1.0, "ts": 1.0}  # fmt: skip
    mark = probe.mark()
    probe.publish("maelstrom/alarms/fermenter-high", json.dumps(record | {"source": "fermenter"}))
    probe.publish("maelstrom/alarms/pilot-light", json.dumps(record))
    probe.publish(
        "maelstrom/alarms/chamber-offline",
        json.dumps(record | {"message": "Board offline", "source": "chamber"}),
    )
    found = await received(probe, pilot, lambda r: bool(r.payload), mark)
    on_board = await received(probe, board, lambda r: bool(r.payload), mark)
    assert problems(found.topic, found.json()) == []
    assert found.json()["device"]["name"] == "Maelstrom"
    assert on_board.json()["device"]["name"] == "Chamber board"
    ack = await received(probe, pilot.replace("binary_sensor", "button").replace("problem", "ack"))
    assert problems(ack.topic, ack.json()) == []
    assert ack.json()["command_topic"] == "maelstrom/alarms/pilot-light/ack"
    template = found.json()["value_template"]
    assert render(template, json.dumps(record)) == "ON"
    cleared = record | {"state": "cleared"}
    assert render(template, json.dumps(cleared)) == "ON"  # until acknowledged
    assert render(template, json.dumps(cleared | {"acknowledged": True})) == "OFF"
    attributes = json.loads(render(found.json()["json_attributes_template"], json.dumps(record)))
    assert attributes["message"] == "Pilot light out" and attributes["severity"] == "high"
    # A loop's alarm is on the loop's own problem sensor: no entity of its own.
    assert not any("maelstrom_alarm_fermenter-high" in m.topic for m in probe.messages[mark:])

    mark = probe.mark()
    probe.publish("maelstrom/alarms/pilot-light", b"")  # cleared and acknowledged: gone
    await received(probe, pilot, lambda r: r.payload == b"", mark)
