"""`/api/devices`: CRUD, versions, referential checks, table-driven bad input."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.api.conftest import FERMENTER_DEVICE, create

SERIAL = {"id": "spark", "kind": "serial", "serial": {"port": "/dev/ttyACM0", "baud": 57600}}


async def test_create_read_list_replace_patch_delete(api: TestClient) -> None:
    created = await create(api, "devices", SERIAL)
    assert created["version"] == 1 and created["serial"]["port"] == "/dev/ttyACM0"

    resp = await api.get("/api/devices")
    assert [d["id"] for d in await resp.json()] == ["spark"]

    replaced = {
        **created,
        "name": "Spark 3",
        "sensors": [{"id": "fridge", "address": "28-0316a279c5ff"}],
    }
    resp = await api.put("/api/devices/spark", json=replaced)
    body = await resp.json()
    assert resp.status == 200, body
    assert body["version"] == 2 and body["sensors"][0]["address"] == "28-0316a279c5ff"

    resp = await api.patch("/api/devices/spark", json={"serial": {"baud": 115200}})
    body = await resp.json()
    assert resp.status == 200, body
    assert body["serial"] == {"port": "/dev/ttyACM0", "baud": 115200}
    assert body["name"] == "Spark 3" and body["version"] == 3

    resp = await api.delete("/api/devices/spark?version=3")
    assert resp.status == 204
    resp = await api.get("/api/devices/spark")
    assert resp.status == 404
    assert (await resp.json())["error"] == "no device 'spark'"


async def test_put_creates_and_a_stale_version_gets_409(api: TestClient) -> None:
    resp = await api.put("/api/devices/spark", json=SERIAL)
    assert resp.status == 201
    resp = await api.put("/api/devices/spark", json={**SERIAL, "name": "x", "version": 1})
    assert resp.status == 200
    resp = await api.put("/api/devices/spark", json={**SERIAL, "name": "y", "version": 1})
    body = await resp.json()
    assert resp.status == 409
    assert body["detail"]["field"] == "version" and body["detail"]["expected"] == 2
    resp = await api.get("/api/devices/spark")
    assert (await resp.json())["name"] == "x"


async def test_a_device_in_use_cannot_be_deleted_or_stripped(
    api: TestClient, fermenter: dict[str, Any]
) -> None:
    resp = await api.delete("/api/devices/ferm")
    body = await resp.json()
    assert resp.status == 409
    assert body["detail"]["used_by"] == {"loops": ["fv1"]}

    resp = await api.patch("/api/devices/ferm", json={"sensors": [{"id": "chamber"}]})
    body = await resp.json()
    assert resp.status == 409, body
    assert body["detail"]["used_by"][0]["loop"] == "fv1"

    resp = await api.delete("/api/loops/fv1")
    assert resp.status == 204
    resp = await api.delete("/api/devices/ferm")
    assert resp.status == 204


BAD_DEVICES: list[tuple[str, Any, int, str]] = [
    ("missing kind", {"id": "a"}, 422, "kind"),
    ("unknown kind", {"id": "a", "kind": "zigbee"}, 422, "kind"),
    ("serial without port", {"id": "a", "kind": "serial"}, 422, "body"),
    ("empty port", {"id": "a", "kind": "serial", "serial": {"port": ""}}, 422, "serial.port"),
    (
        "bad baud",
        {"id": "a", "kind": "serial", "serial": {"port": "/dev/ttyX", "baud": 0}},
        422,
        "serial.baud",
    ),
    ("unknown field", {"id": "a", "kind": "simulated", "colour": "red"}, 422, "colour"),
    ("upper-case id", {"id": "Spark", "kind": "simulated"}, 422, "id"),
    ("id with slash", {"id": "a/b", "kind": "simulated"}, 422, "id"),
    ("duplicate sensors", {**FERMENTER_DEVICE, "sensors": [{"id": "x"}, {"id": "x"}]}, 422, "body"),
    (
        "offset too large",
        {"id": "a", "kind": "simulated", "sensors": [{"id": "s", "offset": 50}]},
        422,
        "sensors.0.offset",
    ),
    (
        "channel too high",
        {"id": "a", "kind": "simulated", "actuators": [{"id": "h", "channel": 999}]},
        422,
        "actuators.0.channel",
    ),
    (
        "bad role",
        {"id": "a", "kind": "simulated", "actuators": [{"id": "h", "role": "toaster"}]},
        422,
        "actuators.0.role",
    ),
    ("mqtt without preset block", {"id": "a", "kind": "mqtt"}, 422, "body"),
    ("bad preset", {"id": "a", "kind": "mqtt", "mqtt": {"preset": "zwave"}}, 422, "mqtt.preset"),
    (
        "sensor topic the broker refuses",
        {"id": "a", "kind": "mqtt", "mqtt": {}, "sensors": [{"id": "t", "topic": "x/\u007f"}]},
        422,
        "sensors.0.topic",
    ),
    (
        "command topic with a wildcard",
        {
            "id": "a",
            "kind": "mqtt",
            "mqtt": {},
            "actuators": [{"id": "h", "command_topic": "cmnd/+/POWER"}],
        },
        422,
        "actuators.0.command_topic",
    ),
    (
        "state topic with a C1 control",
        {
            "id": "a",
            "kind": "mqtt",
            "mqtt": {},
            "actuators": [{"id": "h", "state_topic": "stat/\u0085"}],
        },
        422,
        "actuators.0.state_topic",
    ),
    (
        "input topic with U+0001",
        {"id": "a", "kind": "mqtt", "mqtt": {}, "inputs": [{"id": "i", "topic": "in/\u0001"}]},
        422,
        "inputs.0.topic",
    ),
    (
        "tasmota name with a slash",
        {"id": "a", "kind": "mqtt", "mqtt": {"preset": "tasmota", "name": "a/b"}},
        422,
        "mqtt.name",
    ),
    ("not an object", [1, 2], 422, "body"),
    ("a string", "device", 422, "body"),
    ("creating at a version", {"id": "a", "kind": "simulated", "version": 4}, 409, "version"),
]


@pytest.mark.parametrize(
    ("case", "body", "status", "field"), BAD_DEVICES, ids=[c[0] for c in BAD_DEVICES]
)
async def test_bad_devices_are_refused_naming_the_field(
    api: TestClient, case: str, body: Any, status: int, field: str
) -> None:
    resp = await api.post("/api/devices", json=body)
    data = await resp.json()
    assert resp.status == status, data
    assert set(data) == {"error", "detail"}
    fields = (
        [d["field"] for d in data["detail"]]
        if isinstance(data["detail"], list)
        else [data["detail"]["field"]]
    )
    assert field in fields, data
    resp = await api.get("/api/devices")
    assert await resp.json() == []
