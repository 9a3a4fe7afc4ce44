"""Streams post to a local HTTP server standing in for Brewfather / Brewer's Friend.

The API runs on a SimClock: one post per interval, a two-hour outage stored and
forwarded afterwards in order, within the rate limit.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from services.api.live import LIVE
from services.api.streams import STREAMER
from services.common.clock import SimClock
from services.common.config import Config
from tests.api.conftest import FERMENTER_DEVICE, FERMENTER_LOOP, create, start_api
from tests.support.probe import MqttProbe
from tests.support.receiver import HttpReceiver

T0 = 1_767_261_600.0
MIN = 60.0

BREWFATHER_FIELDS = {
    "name", "temp", "aux_temp", "ext_temp", "temp_unit", "gravity", "gravity_unit",
    "battery", "temp_target", "device_state", "comment", "beer", "device_source",
    "report_source",
}  # fmt: skip
BREWERS_FRIEND_FIELDS = {
    "name", "temp", "temp_unit", "ambient", "temp_target", "heat_state", "gravity",
    "gravity_unit", "battery", "angle", "RSSI", "comment", "beer", "device_source",
    "report_source",
}  # fmt: skip


@pytest.fixture
def clock() -> SimClock:
    return SimClock(T0)


@pytest.fixture
async def sim_api(config: Config, clock: SimClock) -> AsyncIterator[TestClient]:
    client = await start_api(dataclasses.replace(config), clock)
    yield client
    await client.close()


@pytest.fixture
async def server(clock: SimClock) -> AsyncIterator[HttpReceiver]:
    s = await HttpReceiver(clock.now).start()
    yield s
    await s.stop()


async def live_value(
    api: TestClient, probe: MqttProbe, topic: str, payload: dict[str, Any]
) -> None:
    """Publish a retained reading / state and wait until the API's live picture has it."""
    await asyncio.to_thread(probe.publish, topic, payload, True)
    live = api.app[LIVE]  # type: ignore[index]
    parts = topic.split("/")
    for _ in range(500):
        got = (
            live.sensors.get((parts[-2], parts[-1]))
            if parts[1:3] == ["data", "sensors"]
            else live.loops.get(parts[-1])
        )
        if got == payload:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{topic} never reached the API")


def loop_state(pv: float) -> dict[str, Any]:
    return {
        "loop": "fv1",
        "pv": pv,
        "sp": 19.0,
        "output": {"heat": 0, "cool": 60},
        "mode": "constant",
        "state": "cooling",
        "ts": T0,
    }


async def brewery(api: TestClient, probe: MqttProbe) -> None:
    await create(api, "devices", FERMENTER_DEVICE)
    await create(api, "loops", FERMENTER_LOOP)
    await live_value(api, probe, "maelstrom/data/fv1", loop_state(19.25))
    for topic, value in (
        ("maelstrom/data/sensors/ferm/chamber", 17.5),
        ("maelstrom/data/sensors/room/ambient", 22.0),
        ("maelstrom/data/sensors/spindel/gravity", 1.0481),
        ("maelstrom/data/sensors/spindel/battery", 3.98),
        ("maelstrom/data/sensors/spindel/angle", 51.2),
        ("maelstrom/data/sensors/spindel/rssi", -70),
    ):
        await live_value(api, probe, topic, {"value": value, "unit": "", "ts": T0})


MAPPING = {
    "loop": "fv1",
    "aux_temp": {"device": "ferm", "id": "chamber"},
    "ext_temp": {"device": "room", "id": "ambient"},
    "gravity": {"device": "spindel", "id": "gravity"},
    "battery": {"device": "spindel", "id": "battery"},
    "angle": {"device": "spindel", "id": "angle"},
    "rssi": {"device": "spindel", "id": "rssi"},
    "beer": "Pale Ale",
    "comment": "FV1 from Maelstrom",
}


async def put_stream(api: TestClient, stream_id: str, body: dict[str, Any]) -> dict[str, Any]:
    resp = await api.put(f"/api/streams/{stream_id}", json=body)
    data = await resp.json()
    assert resp.status in (200, 201), data
    return data


async def advance(api: TestClient, clock: SimClock, seconds: float) -> None:
    streamer = api.app[STREAMER]  # type: ignore[index]
    await streamer.settled()
    await clock.advance(seconds, settle=streamer.settled)


async def test_brewfather_fields_one_post_per_interval_and_outage_forwarded(
    sim_api: TestClient, clock: SimClock, probe: MqttProbe, server: HttpReceiver
) -> None:
    api = sim_api
    await brewery(api, probe)
    url = f"http://127.0.0.1:{server.port}/stream?id=Xy12secretLogId"
    created = await put_stream(api, "bf", {"kind": "brewfather", "url": url, **MAPPING})
    assert "secretLogId" not in str(created)
    await advance(api, clock, 0)
    [first] = server.requests
    assert first.path == "/stream?id=Xy12secretLogId"
    body = first.json()
    assert set(body) == BREWFATHER_FIELDS
    assert body["name"] == "FV1" and body["temp"] == 19.25 and body["temp_unit"] == "C"
    assert (body["aux_temp"], body["ext_temp"], body["temp_target"]) == (17.5, 22.0, 19.0)
    assert (body["gravity"], body["gravity_unit"], body["battery"]) == (1.0481, "G", 3.98)
    assert body["beer"] == "Pale Ale" and body["device_state"] == "cooling"

    await advance(api, clock, 14 * MIN)
    assert len(server.requests) == 1  # never more than one per 15 minutes
    await advance(api, clock, 1 * MIN)
    assert len(server.requests) == 2

    # Two hours of outage (the service answers 500); the beer warms meanwhile.
    server.status = 500
    outage = []
    for step in range(8):
        pv = 19.5 + step / 10
        outage.append(pv)
        await live_value(api, probe, "maelstrom/data/fv1", loop_state(pv))
        await advance(api, clock, 15 * MIN)
    [status] = await (await api.get("/api/streams")).json()
    assert status["status"]["buffered"] == 8
    assert "HTTP 500" in status["status"]["last_error"]
    server.status = 200
    before = len(server.requests)
    await live_value(api, probe, "maelstrom/data/fv1", loop_state(21.0))
    await advance(api, clock, 15 * MIN * 10)
    forwarded = server.requests[before:]
    temps = [r.json()["temp"] for r in forwarded if r.at >= T0 + 150 * MIN]
    # oldest first: the 8 outage readings, the one taken at recovery, then fresh ones
    assert temps[:9] == [*outage, 21.0]
    gaps = [b.at - a.at for a, b in zip(server.requests, server.requests[1:], strict=False)]
    assert min(gaps) >= 15 * MIN
    [status] = await (await api.get("/api/streams")).json()
    assert status["status"]["buffered"] == 0
    assert status["status"]["last_success_at"] == forwarded[-1].at


async def test_brewers_friend_fields_and_webhook_template(
    sim_api: TestClient, clock: SimClock, probe: MqttProbe, server: HttpReceiver
) -> None:
    api = sim_api
    await brewery(api, probe)
    await put_stream(
        api,
        "bf2",
        {"kind": "brewers_friend", "url": f"{server.url}/stream/abcdef0123456789key", **MAPPING},
    )
    template = {"device": "{{name}}", "celsius": "{{temp}}", "text": "SG {{gravity}} at {{ts_iso}}"}
    hook = {"kind": "webhook", "url": f"{server.url}/hook", "loop": "fv1", "interval_min": 5}
    await put_stream(api, "hook", {**hook, **MAPPING, "template": template})
    await advance(api, clock, 0)
    by_path = {r.path: r.json() for r in server.requests}
    friend = by_path["/stream/abcdef0123456789key"]
    assert set(friend) == BREWERS_FRIEND_FIELDS
    assert (friend["heat_state"], friend["RSSI"], friend["angle"]) == ("cooling", -70, 51.2)
    assert friend["ambient"] == 22.0
    assert by_path["/hook"] == {
        "device": "FV1",
        "celsius": 19.25,
        "text": "SG 1.0481 at 2026-01-01T10:00:00+00:00",
    }
    await advance(api, clock, 5 * MIN)
    assert [r.path for r in server.requests].count("/hook") == 2

    resp = await api.put(
        "/api/streams/bad",
        json={"kind": "brewfather", "url": server.url, "loop": "fv1", "interval_min": 5},
    )
    assert resp.status == 422
    resp = await api.put(
        "/api/streams/bad", json={"kind": "webhook", "url": server.url, "loop": "nope"}
    )
    assert resp.status == 422
