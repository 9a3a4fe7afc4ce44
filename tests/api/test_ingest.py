"""`POST /api/ingest/ispindel`: an iSpindel's HTTP post becomes the same readings as MQTT."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from services.common.config import Config
from tests.api.conftest import create, start_api
from tests.controller.support import eventually, sim_controller
from tests.support.probe import MqttProbe, received

SPINDEL: dict[str, Any] = {
    "id": "spindel",
    "kind": "mqtt",
    "mqtt": {"preset": "ispindel", "name": "iSpindel007", "token": "brew-s3cret"},
    "sensors": [{"id": "temperature"}, {"id": "gravity"}, {"id": "battery", "unit": "V"}],
}

# As the iSpindel firmware 7.x sends it (generic HTTP, "Service Type: HTTP").
ISPINDEL_POST: dict[str, Any] = {
    "name": "iSpindel007",
    "ID": 8234567,
    "token": "brew-s3cret",
    "angle": 52.91,
    "temperature": 66.2,
    "temp_units": "F",
    "battery": 4.01,
    "gravity": 1.0531,
    "interval": 900,
    "RSSI": -71,
}

# GravityMon adds a temperature-corrected gravity and its format.
GRAVITYMON_POST: dict[str, Any] = {
    **ISPINDEL_POST,
    "temperature": 19.0,
    "temp_units": "C",
    "gravity": 1.0500,
    "corr-gravity": 1.0492,
    "gravity-format": "G",
    "run-time": 3.2,
}


def value(message: Any) -> float:
    return float(json.loads(message.payload)["value"])


async def test_ispindel_post_becomes_readings_like_mqtt(config: Config, probe: MqttProbe) -> None:
    probe.subscribe("maelstrom/data/sensors/#")
    probe.subscribe("ispindel/#")
    api = await start_api(config)
    try:
        async with sim_controller(config) as run:
            await create(api, "devices", SPINDEL)
            await eventually(lambda: run.ctl.registry.drives("spindel"))
            assert await run.ctl.mqtt.wait_subscribed("ispindel/iSpindel007/gravity")
            resp = await api.post("/api/ingest/ispindel", json=ISPINDEL_POST)
            body = await resp.json()
            assert resp.status == 200, body
            temp = await received(probe, "maelstrom/data/sensors/spindel/temperature")
            gravity = await received(probe, "maelstrom/data/sensors/spindel/gravity")
            battery = await received(probe, "maelstrom/data/sensors/spindel/battery")
            assert value(temp) == 19.0  # 66.2 °F
            assert value(gravity) == 1.0531
            assert value(battery) == 4.01

            mark = probe.mark()
            resp = await api.post("/api/ingest/ispindel", json=GRAVITYMON_POST)
            assert resp.status == 200
            gravity = await received(probe, "maelstrom/data/sensors/spindel/gravity", since=mark)
            assert value(gravity) == 1.0492  # the corrected one
    finally:
        await api.close()
    firmware = {m.topic for m in probe.messages if m.topic.startswith("ispindel/")}
    assert {"ispindel/iSpindel007/tilt", "ispindel/iSpindel007/RSSI"} <= firmware


async def test_bad_token_bad_json_and_unknown_device_publish_nothing(
    config: Config, probe: MqttProbe
) -> None:
    probe.subscribe("ispindel/#")
    api = await start_api(dataclasses.replace(config, api_token="api-secret"))
    try:
        headers = {"Authorization": "Bearer api-secret"}
        resp = await api.post("/api/devices", json=SPINDEL, headers=headers)
        assert resp.status == 201
        # Open despite MAELSTROM_API_TOKEN (an iSpindel cannot send a header) …
        cases = [
            ({**ISPINDEL_POST, "token": "wrong"}, 401),
            ({k: v for k, v in ISPINDEL_POST.items() if k != "token"}, 401),
            (b'{"name": "iSpindel007", "token": "brew-s3cret", "angle": ', 400),
            (b"NaN", 400),
            ({**ISPINDEL_POST, "gravity": "heavy"}, 422),
            ({**ISPINDEL_POST, "name": "a/b"}, 422),
            ({**ISPINDEL_POST, "name": "other"}, 404),
        ]
        for body, status in cases:
            if isinstance(body, bytes):
                resp = await api.post(
                    "/api/ingest/ispindel", data=body, headers={"Content-Type": "application/json"}
                )
            else:
                resp = await api.post("/api/ingest/ispindel", json=body)
            answer = await resp.json()
            assert resp.status == status, (body, answer)
            assert answer["error"]
        # … and a good post still goes through without the API token.
        resp = await api.post("/api/ingest/ispindel", json=ISPINDEL_POST)
        assert resp.status == 200
        published = list((await resp.json())["published"])
        await received(probe, published[-1])  # one publisher: every earlier message is in
    finally:
        await api.close()
    topics = [m.topic for m in probe.messages if m.topic.startswith("ispindel/")]
    assert sorted(topics) == sorted(published)  # the refused posts published nothing
