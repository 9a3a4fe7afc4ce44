"""`POST /api/publish/{channel}[/{subtopic…}]`: any body, any subtopic, retained on request."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient

from services.common.web import MQTT
from tests.support.probe import MqttProbe, received


async def test_publish_any_body_and_say_where(api: TestClient, probe: MqttProbe) -> None:
    probe.subscribe("maelstrom/#")
    resp = await api.post("/api/publish/alarms/test", json={"message": "pilot light out"})
    body = await resp.json()
    assert resp.status == 202
    assert body == {"topic": "maelstrom/alarms/test", "retain": False, "qos": 1, "bytes": 30}
    msg = await received(probe, "maelstrom/alarms/test")
    assert msg.json() == {"message": "pilot light out"}

    resp = await api.post("/api/publish/data/deep/sub/topic?retain=1", data="19.5")
    assert (await resp.json())["topic"] == "maelstrom/data/deep/sub/topic"
    msg = await received(probe, "maelstrom/data/deep/sub/topic")
    assert msg.text == "19.5"

    resp = await api.post("/api/publish/cmd/loops/fv1/setpoint?qos=0", data="20")
    assert (await resp.json())["qos"] == 0

    resp = await api.post("/api/publish/logs", data="plain text")
    assert (await resp.json())["topic"] == "maelstrom/logs"


async def test_retained_and_cleared(api: TestClient, broker, probe: MqttProbe) -> None:  # type: ignore[no-untyped-def]
    probe.subscribe("maelstrom/data/marker")
    await api.post("/api/publish/data/kept?retain=1", data="1")
    await api.post("/api/publish/data/kept?retain=1")  # empty body clears
    await api.post("/api/publish/data/marker?retain=1", data="m")
    await received(probe, "maelstrom/data/marker")  # same connection: the clear came first
    late = MqttProbe(broker.port)
    try:
        late.subscribe("maelstrom/data/#")
        await received(late, "maelstrom/data/marker")
        assert not [m for m in late.messages if m.topic == "maelstrom/data/kept"]
    finally:
        late.close()


@pytest.mark.parametrize(
    ("path", "status", "field"),
    [
        ("/api/publish/config/loops/x", 400, "channel"),  # the API's own output
        ("/api/publish/status/api", 400, "channel"),
        ("/api/publish/nope", 400, "channel"),
        ("/api/publish/data/a+b", 400, "subtopic"),
        ("/api/publish/data/%23", 400, "subtopic"),
        ("/api/publish/data/x?retain=maybe", 400, "retain"),
        ("/api/publish/data/x?qos=3", 400, "qos"),
        ("/api/publish/data/x?qos=high", 400, "qos"),
    ],
)
async def test_bad_publishes_are_refused(
    api: TestClient, path: str, status: int, field: str
) -> None:
    resp = await api.post(path, data="x")
    body = await resp.json()
    assert resp.status == status, body
    assert body["detail"]["field"] == field


@pytest.mark.parametrize("subtopic", ["x%7Fy", "x%C2%85y", "x%EF%B7%90y", "x%01y"])
async def test_a_topic_the_broker_refuses_is_a_400_and_the_client_stays_connected(
    api: TestClient, probe: MqttProbe, subtopic: str
) -> None:
    """Mosquitto disconnects a client that publishes U+007F, a C1 control or a
    non-character; the API's client is shared, so it must refuse the topic itself."""
    mqtt = api.app[MQTT]
    drops: list[None] = []
    mqtt.on_disconnect(lambda: drops.append(None))
    probe.subscribe("maelstrom/data/after")
    resp = await api.post(f"/api/publish/data/{subtopic}", data="1")
    body = await resp.json()
    assert resp.status == 400, body
    assert body["detail"]["field"] == "subtopic"
    assert "refused by the broker" in body["detail"]["message"]
    resp = await api.post("/api/publish/data/after", data="2")
    assert resp.status == 202
    await received(probe, "maelstrom/data/after")
    assert mqtt.connected.is_set() and not drops
