"""Configuration on MQTT: retained on start, on change, on controller online; deletes clear."""

from __future__ import annotations

import dataclasses
from typing import Any

from aiohttp.test_utils import TestClient

from services.common.config import Config
from tests.api.conftest import create, start_api
from tests.support.probe import MqttProbe, received

DEMO_TOPICS = (
    "maelstrom/config/devices/sim-fermenter",
    "maelstrom/config/devices/sim-kettle",
    "maelstrom/config/profiles/ale",
    "maelstrom/config/profiles/mash",
    "maelstrom/config/loops/fermenter",
    "maelstrom/config/loops/kettle",
)


async def test_every_object_is_published_retained_on_start(
    config: Config, broker: Any, probe: MqttProbe
) -> None:
    probe.subscribe("maelstrom/config/#")
    api = await start_api(dataclasses.replace(config, demo=True))
    try:
        for topic in DEMO_TOPICS:
            await received(probe, topic)
        late = MqttProbe(broker.port)  # e.g. the controller, starting later
        try:
            late.subscribe("maelstrom/config/#")
            for topic in DEMO_TOPICS:
                assert (await received(late, topic)).retain, topic
            loop = (await received(late, "maelstrom/config/loops/kettle")).json()
        finally:
            late.close()
        resp = await api.get("/api/loops/kettle")
        assert loop == await resp.json()
    finally:
        await api.close()


async def test_changes_and_settings_are_published(api: TestClient, probe: MqttProbe) -> None:
    probe.subscribe("maelstrom/config/#")
    resp = await api.put("/api/settings/units", json={"value": "celsius"})
    assert resp.status == 201
    msg = await received(probe, "maelstrom/config/settings/units")
    assert msg.json() == "celsius"
    resp = await api.put("/api/settings/history", json={"value": None})
    msg = await received(probe, "maelstrom/config/settings/history")
    assert msg.payload == b"null"  # a null setting is not an empty (deleting) payload


async def test_a_delete_clears_the_retained_topic(
    api: TestClient, fermenter: dict[str, Any], broker: Any, probe: MqttProbe
) -> None:
    probe.subscribe("maelstrom/config/loops/fv1")
    await received(probe, "maelstrom/config/loops/fv1", lambda m: m.payload != b"")
    resp = await api.delete("/api/loops/fv1")
    assert resp.status == 204
    await received(probe, "maelstrom/config/loops/fv1", lambda m: m.payload == b"")
    late = MqttProbe(broker.port)
    try:
        late.subscribe("maelstrom/config/#")
        seen = await received(late, "maelstrom/config/devices/ferm")
        assert seen.retain
        assert not [m for m in late.messages if m.topic == "maelstrom/config/loops/fv1"]
    finally:
        late.close()


async def test_republished_when_the_controller_comes_online(
    api: TestClient, fermenter: dict[str, Any], probe: MqttProbe
) -> None:
    probe.subscribe("maelstrom/config/#")
    await received(probe, "maelstrom/config/loops/fv1")
    mark = probe.mark()
    probe.publish("maelstrom/status/controller", "offline", retain=True)
    probe.publish("maelstrom/status/controller", "online", retain=True)
    for topic in (
        "maelstrom/config/devices/ferm",
        "maelstrom/config/profiles/ale",
        "maelstrom/config/loops/fv1",
    ):
        await received(probe, topic, since=mark)


async def test_retained_config_unknown_to_the_database_is_cleared(
    config: Config, probe: MqttProbe
) -> None:
    stale = {"id": "old", "kind": "simulated"}
    probe.publish("maelstrom/config/devices/old", stale, retain=True)
    probe.publish("maelstrom/config/settings/gone", "1", retain=True)
    probe.subscribe("maelstrom/config/#")
    await received(probe, "maelstrom/config/devices/old")
    api = await start_api(config)
    try:
        await received(probe, "maelstrom/config/devices/old", lambda m: m.payload == b"")
        await received(probe, "maelstrom/config/settings/gone", lambda m: m.payload == b"")
        await create(api, "devices", stale)  # and the id can be used again
        await received(
            probe, "maelstrom/config/devices/old", lambda m: m.payload != b"" and not m.retain
        )
    finally:
        await api.close()
