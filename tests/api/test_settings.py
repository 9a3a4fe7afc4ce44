"""`/api/settings`: key → any JSON value, versioned like every object."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient


async def test_settings_crud_with_versions(api: TestClient) -> None:
    resp = await api.post("/api/settings", json={"key": "units", "value": "C"})
    assert resp.status == 201 and resp.headers["Location"] == "/api/settings/units"
    resp = await api.post("/api/settings", json={"key": "units", "value": "F"})
    assert resp.status == 409

    resp = await api.put(
        "/api/settings/history", json={"value": {"retention_days": 90, "charts": [1, 2]}}
    )
    assert resp.status == 201
    resp = await api.get("/api/settings")
    assert await resp.json() == [
        {"key": "history", "value": {"retention_days": 90, "charts": [1, 2]}, "version": 1},
        {"key": "units", "value": "C", "version": 1},
    ]

    resp = await api.put("/api/settings/units", json={"value": "F", "version": 1})
    assert (await resp.json()) == {"key": "units", "value": "F", "version": 2}
    resp = await api.put("/api/settings/units", json={"value": "K", "version": 1})
    body = await resp.json()
    assert resp.status == 409 and body["detail"]["expected"] == 2

    resp = await api.delete("/api/settings/units?version=1")
    assert resp.status == 409
    resp = await api.delete("/api/settings/units?version=2")
    assert resp.status == 204
    resp = await api.get("/api/settings/units")
    assert resp.status == 404


BAD_SETTINGS: list[tuple[str, str, Any, int, str]] = [
    ("no value", "units", {"version": 0}, 422, "value"),
    ("unknown field", "units", {"value": 1, "unit": "C"}, 422, "unit"),
    ("key mismatch", "units", {"key": "other", "value": 1}, 422, "key"),
    ("bad key", "Units!", {"value": 1}, 400, "key"),
    ("not an object", "units", [1], 422, "body"),
    ("string version", "units", {"value": 1, "version": "one"}, 422, "version"),
    ("stale create", "units", {"value": 1, "version": 3}, 409, "version"),
]


@pytest.mark.parametrize(
    ("case", "key", "body", "status", "field"), BAD_SETTINGS, ids=[c[0] for c in BAD_SETTINGS]
)
async def test_bad_settings_are_refused(
    api: TestClient, case: str, key: str, body: Any, status: int, field: str
) -> None:
    resp = await api.put(f"/api/settings/{key}", json=body)
    data = await resp.json()
    assert resp.status == status, data
    fields = (
        [d["field"] for d in data["detail"]]
        if isinstance(data["detail"], list)
        else [data["detail"]["field"]]
    )
    assert field in fields
    resp = await api.get("/api/settings")
    assert await resp.json() == []
