"""`GET /api/backup` + `POST /api/restore`: the whole configuration, round trip."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.support.probe import MqttProbe, received


async def test_backup_restore_round_trip(demo_api: TestClient, probe: MqttProbe) -> None:
    api = demo_api
    await api.put("/api/settings/units", json={"value": "C"})
    resp = await api.get("/api/backup")
    assert resp.status == 200
    assert "attachment" in resp.headers["Content-Disposition"]
    backup = await resp.json()
    assert backup["format"] == "maelstrom-backup" and backup["schema_version"] >= 1
    assert [d["id"] for d in backup["devices"]] == ["sim-fermenter", "sim-kettle"]

    # change things after the backup: edit, add, delete
    await api.patch("/api/loops/kettle", json={"window_s": 30})
    await api.post(
        "/api/profiles", json={"id": "extra", "points": [{"offset": 0, "temperature": 20}]}
    )
    await api.delete("/api/settings/units")

    probe.subscribe("maelstrom/config/#")
    resp = await api.post("/api/restore", json=backup)
    body = await resp.json()
    assert resp.status == 200, body
    assert body["restored"] == {"settings": 1, "devices": 2, "profiles": 2, "loops": 2}
    # no controller runs here: the targets stay the controller's to take (it says why)
    assert set(body["targets"]) == {"fermenter", "kettle"}
    assert all(v != "restored" for v in body["targets"].values()), body

    resp = await api.get("/api/backup")
    after = await resp.json()
    for kind in ("devices", "profiles", "loops", "settings"):
        strip = [{k: v for k, v in o.items() if k != "version"} for o in after[kind]]
        assert strip == [{k: v for k, v in o.items() if k != "version"} for o in backup[kind]], kind
    kettle = next(loop for loop in after["loops"] if loop["id"] == "kettle")
    assert kettle["window_s"] == 10 and kettle["version"] == 3  # versions move on: old reads 409

    await received(probe, "maelstrom/config/profiles/extra", lambda m: m.payload == b"")
    await received(probe, "maelstrom/config/loops/kettle", lambda m: m.json()["window_s"] == 10)
    await received(probe, "maelstrom/config/settings/units", lambda m: m.json() == "C")


async def test_a_bad_backup_changes_nothing(demo_api: TestClient) -> None:
    api = demo_api
    resp = await api.get("/api/backup")
    backup: dict[str, Any] = await resp.json()
    broken = {**backup, "devices": [d for d in backup["devices"] if d["id"] != "sim-kettle"]}
    resp = await api.post("/api/restore", json=broken)
    body = await resp.json()
    assert resp.status == 422, body
    assert body["detail"][0]["field"] == "loops.1.sensor.device"

    duplicated = {**backup, "profiles": backup["profiles"] * 2}
    resp = await api.post("/api/restore", json=duplicated)
    assert resp.status == 422

    invalid = {**backup, "loops": [{**backup["loops"][0], "setpoint": 900}]}
    resp = await api.post("/api/restore", json=invalid)
    body = await resp.json()
    assert resp.status == 422 and body["detail"][0]["field"] == "loops.0.setpoint"

    resp = await api.post("/api/restore", json={**backup, "format": "brewpi"})
    assert resp.status == 422

    resp = await api.get("/api/backup")
    now = await resp.json()
    assert {k: v for k, v in now.items() if k != "created_at"} == {
        k: v for k, v in backup.items() if k != "created_at"
    }
