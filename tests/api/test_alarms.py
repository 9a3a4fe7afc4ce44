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


T = 1_767_225_600.0  # 2026-01-01: history refuses times before 2000


def alarm(alarm_id: str, **fields: Any) -> dict[str, Any]:
    return {"id": alarm_id, "message": f"{alarm_id} happened", "raised_at": T + 100.0, **fields}


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
    body = await eventually(api, lambda b: len(b["alarms"]) == 3 and len(b["recent"]) == 1)
    assert [a["id"] for a in body["recent"]] == ["crit"]


async def test_recent_shows_every_occurrence_as_it_ended_newest_first(
    api: TestClient, probe: MqttProbe
) -> None:
    """What the controller publishes over two lives of one alarm and one of another:
    raise → ack → clear, then raise → clear → ack, and clear → ack."""

    def publish(alarm_id: str, retain: bool = True, **fields: Any) -> None:
        probe.publish(f"maelstrom/alarms/{alarm_id}", alarm(alarm_id, **fields), retain=retain)

    def end(alarm_id: str, **fields: Any) -> None:
        publish(alarm_id, retain=False, state="cleared", acknowledged=True, **fields)
        probe.publish(f"maelstrom/alarms/{alarm_id}", b"", retain=True)

    publish("hot", raised_at=T + 100.0, ts=T + 100.0)
    publish("hot", raised_at=T + 100.0, acknowledged=True, acknowledged_by="anna", ts=T + 110.0)
    end(
        "hot",
        raised_at=T + 100.0,
        acknowledged_by="anna",
        acknowledged_at=T + 110.0,
        cleared_at=T + 120.0,
    )
    publish("hot", raised_at=T + 200.0, ts=T + 200.0)
    publish("hot", raised_at=T + 200.0, state="cleared", cleared_at=T + 210.0, ts=T + 210.0)
    end(
        "hot",
        raised_at=T + 200.0,
        acknowledged_by="ben",
        acknowledged_at=T + 230.0,
        cleared_at=T + 210.0,
    )
    publish("pilot", raised_at=T + 150.0, ts=T + 150.0)
    publish("pilot", raised_at=T + 150.0, state="cleared", cleared_at=T + 160.0, ts=T + 160.0)
    end(
        "pilot",
        raised_at=T + 150.0,
        acknowledged_by="mqtt",
        acknowledged_at=T + 170.0,
        cleared_at=T + 160.0,
    )

    body = await eventually(api, lambda b: len(b["recent"]) == 3)
    assert [
        (a["id"], a["raised_at"], a["state"], a["acknowledged_by"], a["cleared_at"])
        for a in body["recent"]
    ] == [
        ("hot", T + 200.0, "cleared", "ben", T + 210.0),
        ("pilot", T + 150.0, "cleared", "mqtt", T + 160.0),
        ("hot", T + 100.0, "cleared", "anna", T + 120.0),
    ]
    assert body["alarms"] == []


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
