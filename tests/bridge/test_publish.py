"""Browsers publish only where the ACL allows; refusals say why and leave the socket open."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from services.common.config import Config
from services.controller.app import running_controller
from services.controller.options import Options
from tests.bridge.browser import Browser
from tests.bridge.conftest import RunningBridge, StartBridge, eventually
from tests.controller.support import kettle_device, kettle_loop, publish_config
from tests.support.broker import Broker
from tests.support.probe import MqttProbe


def is_error(code: str) -> object:
    return lambda f: f.get("op") == "error" and f.get("code") == code


async def test_allowed_publishes_reach_mqtt_as_mosquitto_sub_sees_them(
    browser: Browser, probe: MqttProbe, broker: Broker
) -> None:
    probe.subscribe("maelstrom/#")
    await browser.send(op="publish", topic="maelstrom/cmd/loops/fermenter/setpoint", payload="20.5")
    await browser.send(
        op="publish",
        topic="maelstrom/alarms/test",
        payload={"message": "pilot light out"},
        retain=True,
    )
    await browser.send(
        op="publish", topic="maelstrom/logs/ui", payload={"level": "info", "message": "hi"}
    )
    setpoint = await asyncio.to_thread(probe.wait_for, "maelstrom/cmd/loops/fermenter/setpoint")
    assert setpoint.text == "20.5"  # a string goes as plain text
    alarm = await asyncio.to_thread(probe.wait_for, "maelstrom/alarms/test")
    assert alarm.json() == {"message": "pilot light out"}
    log = await asyncio.to_thread(probe.wait_for, "maelstrom/logs/ui")
    assert log.json()["message"] == "hi"

    late = MqttProbe(broker.port)  # the alarm was retained: a new subscriber gets it
    try:
        late.subscribe("maelstrom/alarms/+")
        retained = await asyncio.to_thread(late.wait_for, "maelstrom/alarms/test")
        assert retained.retain
    finally:
        late.close()


@pytest.mark.parametrize(
    "topic",
    [
        "maelstrom/config/loops/fermenter",  # configuration is the API's
        "maelstrom/status/controller",
        "maelstrom/data/fermenter",
        "maelstrom/logs/controller",  # only the UI's own log source
        "homeassistant/switch/x/config",
        "$SYS/broker/uptime",
    ],
)
async def test_publishing_outside_the_acl_is_refused_and_the_socket_stays_open(
    browser: Browser, probe: MqttProbe, topic: str
) -> None:
    probe.subscribe("#")
    mark = browser.mark()
    await browser.send(op="publish", topic=topic, payload="1")
    error = await browser.wait_for(is_error("forbidden"), since=mark)
    assert error["topic"] == topic
    assert "may not publish" in error["error"] and "maelstrom/cmd/#" in error["error"]
    # Still open and working: a permitted publish goes through, and the refused one never did.
    await browser.send(op="publish", topic="maelstrom/cmd/loops/f/mode", payload="off")
    await asyncio.to_thread(probe.wait_for, "maelstrom/cmd/loops/f/mode")
    assert not [m for m in probe.messages if m.topic == topic]


@pytest.mark.parametrize("topic", ["maelstrom/cmd/#", "maelstrom/cmd/+/x", "maelstrom/cmd/a\0b"])
async def test_publishing_to_a_wildcard_or_malformed_topic_is_refused(
    browser: Browser, topic: str
) -> None:
    await browser.send(op="publish", topic=topic, payload="1")
    error = await browser.wait_for(is_error("invalid_topic"))
    assert error["topic"] == topic


async def test_the_acl_comes_from_the_environment(
    make_bridge: StartBridge, http: aiohttp.ClientSession, probe: MqttProbe
) -> None:
    bridge = await make_bridge(publish_acl=("maelstrom/cmd/loops/+/setpoint",))
    browser = await Browser.connect(http, bridge.url)
    await browser.send(op="publish", topic="maelstrom/cmd/loops/f/mode", payload="off")
    error = await browser.wait_for(is_error("forbidden"))
    assert "maelstrom/cmd/loops/+/setpoint" in error["error"]


@pytest.mark.parametrize(
    ("op", "topic", "code"),
    [
        ("publish", "maelstrom/cmd/loops/f/mo\x01de", "invalid_topic"),
        ("publish", "maelstrom/cmd/loops/f/mo\x7fde", "invalid_topic"),
        ("subscribe", "maelstrom/data/\x9f/#", "invalid_filter"),
    ],
)
async def test_a_topic_the_broker_refuses_gets_an_error_and_the_bridge_stays_connected(
    bridge: RunningBridge,
    browser: Browser,
    probe: MqttProbe,
    op: str,
    topic: str,
    code: str,
) -> None:
    """Mosquitto disconnects a client that sends a control character in a topic;
    the bridge's client is shared by every browser, so it refuses the frame itself."""
    drops: list[None] = []
    bridge.hub.mqtt.on_disconnect(lambda: drops.append(None))
    probe.subscribe("maelstrom/cmd/#")
    mark = browser.mark()
    frame = {"op": op, "topic": topic} | ({"payload": "off"} if op == "publish" else {})
    await browser.send(**frame)
    error = await browser.wait_for(is_error(code), since=mark)
    assert error["topic"] == topic and "U+00" in error["error"]
    await browser.send(op="publish", topic="maelstrom/cmd/loops/f/mode", payload="off")
    await asyncio.to_thread(probe.wait_for, "maelstrom/cmd/loops/f/mode")
    assert bridge.hub.mqtt.connected.is_set() and not drops


async def test_a_command_the_controller_refuses_comes_back_as_an_error_frame(
    browser: Browser, config: Config, tmp_path: Path, probe: MqttProbe
) -> None:
    for obj in (kettle_device(), kettle_loop(mode="constant", setpoint=20.0)):
        publish_config(probe, obj)
    options = Options(state_path=str(tmp_path / "controller-state.json"))
    async with running_controller(config, options) as controller:
        await eventually(lambda: "kettle" in controller.loops.loops)
        await browser.send(op="publish", topic="maelstrom/cmd/loops/kettle/setpoint", payload="500")
        frame = await browser.wait_for(is_error("refused"))
        assert frame["loop"] == "kettle" and "outside" in frame["error"], frame
        # an accepted one is answered by the new target alone, as every browser sees it
        await browser.send(op="publish", topic="maelstrom/cmd/loops/kettle/setpoint", payload="66")
        await eventually(lambda: controller.targets.get("kettle").setpoint == 66)  # type: ignore[union-attr]
