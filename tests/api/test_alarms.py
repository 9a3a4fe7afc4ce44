"""`/api/alarms`: what the controller publishes, listed in order; acks go over MQTT."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.support.probe import MqttProbe, received


async def eventually(
    api: TestClient, check: Callable[[dict[str, Any]], bool], timeout: float = 10
) -> dict[str, Any]:
    async def poll() -> dict[str, Any]:
        while True:
            resp = await api.get("/api/alarms")
            body = await resp.json()
            if check(body):
                return body
            await asyncio.sleep(0.05)

    return await asyncio.wait_for(poll(), timeout)


def alarm(alarm_id: str, **fields: Any) -> dict[str, Any]:
    return {"id": alarm_id, "message": f"{alarm_id} happened", "raised_at": 100.0, **fields}


async def test_lists_visible_alarms_in_order_and_recent_ones(
    api: TestClient, probe: MqttProbe
) -> None:
    probe.publish("maelstrom/alarms/low-one", alarm("low-one", severity="low"), retain=True)
    probe.publish("maelstrom/alarms/crit", alarm("crit", severity="critical"), retain=True)
    probe.publish(
        "maelstrom/alarms/cleared",
        alarm("cleared", severity="critical", state="cleared"),
        retain=True,
    )
    probe.publish(
        "maelstrom/alarms/acked",
        alarm("acked", severity="critical", acknowledged=True),
        retain=True,
    )
    body = await eventually(api, lambda b: len(b["alarms"]) == 4)
    assert [a["id"] for a in body["alarms"]] == ["crit", "low-one", "acked", "cleared"]

    probe.publish("maelstrom/alarms/crit", b"", retain=True)  # the controller removes it
    body = await eventually(api, lambda b: len(b["alarms"]) == 3)
    assert [a["id"] for a in body["recent"]] == ["crit"]


async def test_ack_publishes_on_the_ack_topic(api: TestClient, probe: MqttProbe) -> None:
    probe.subscribe("maelstrom/alarms/#")
    probe.publish("maelstrom/alarms/fv1-high", alarm("fv1-high"), retain=True)
    probe.publish("maelstrom/alarms/fv1-low", alarm("fv1-low"), retain=True)
    await eventually(api, lambda b: len(b["alarms"]) == 2)

    resp = await api.post("/api/alarms/fv1-high/ack", json={"by": "brewer"})
    body = await resp.json()
    assert resp.status == 202
    assert body == {"topics": ["maelstrom/alarms/fv1-high/ack"], "by": "brewer"}
    msg = await received(probe, "maelstrom/alarms/fv1-high/ack")
    assert msg.json() == {"by": "brewer"}

    resp = await api.post("/api/alarms/ack")
    body = await resp.json()
    assert resp.status == 202
    assert sorted(body["topics"]) == [
        "maelstrom/alarms/fv1-high/ack",
        "maelstrom/alarms/fv1-low/ack",
    ]
    await received(probe, "maelstrom/alarms/fv1-low/ack", lambda m: m.json() == {"by": "api"})


async def test_anyone_may_raise_an_alarm_without_an_id(api: TestClient, probe: MqttProbe) -> None:
    probe.publish("maelstrom/alarms/test", {"message": "pilot light out"}, retain=True)
    body = await eventually(api, lambda b: len(b["alarms"]) == 1)
    assert body["alarms"][0]["id"] == "test" and body["alarms"][0]["severity"] == "medium"


@pytest.mark.parametrize(
    "payload",
    [b"{broken", b"[1, 2]", b'{"message": ""}', b'{"message": "x", "severity": "apocalyptic"}'],
)
async def test_a_bad_alarm_record_is_logged_and_dropped(
    api: TestClient, probe: MqttProbe, payload: bytes
) -> None:
    probe.subscribe("maelstrom/logs/api")
    probe.publish("maelstrom/alarms/bad", payload)
    log = await received(
        probe,
        "maelstrom/logs/api",
        lambda m: "alarms/bad" in m.json()["message"] or "'bad'" in m.json()["message"],
    )
    assert log.json()["level"] == "warning"
    resp = await api.get("/api/alarms")
    assert (await resp.json())["alarms"] == []


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/api/alarms/ghost/ack", None, 404),
        ("/api/alarms/known/ack", {"who": "me"}, 422),
        ("/api/alarms/known/ack", {"by": 5}, 422),
        ("/api/alarms/known/ack", {"by": "x" * 101}, 422),
        ("/api/alarms/known/ack", ["brewer"], 422),
    ],
)
async def test_bad_acks(
    api: TestClient, probe: MqttProbe, path: str, body: Any, status: int
) -> None:
    probe.publish("maelstrom/alarms/known", alarm("known"), retain=True)
    await eventually(api, lambda b: len(b["alarms"]) == 1)
    resp = await api.post(path, json=body)
    data = await resp.json()
    assert resp.status == status, data
    assert set(data) == {"error", "detail"}
