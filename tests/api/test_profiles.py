"""`/api/profiles`: CRUD, validation, in-use protection, and BrewPi CSV in and out."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from services.controller.app import Controller
from tests.api.conftest import ALE, create

BREWPI_CSV = """date,temperature,days
"2024-03-01T12:00:00","18.0","0.000"
"2024-03-04T12:00:00","18.0","3.000"
"2024-03-05T12:00:00","21.0","4.000"
"2024-03-08T12:00:00","","7.000"
"2024-03-08T18:00:00","2.0","7.250"
"""


async def test_crud_and_in_use_protection(
    api: TestClient, fermenter: dict[str, Any], controlled: Controller
) -> None:
    resp = await api.get("/api/profiles/ale")
    ale = await resp.json()
    assert ale["points"][2] == {"offset": 172800.0, "at": None, "temperature": None}
    resp = await api.post("/api/loops/fv1/profile", json={"action": "start", "profile": "ale"})
    assert resp.status == 200
    # in use by the loop's target, as its controller published it
    resp = await api.delete("/api/profiles/ale")
    body = await resp.json()
    assert resp.status == 409 and body["detail"]["used_by"] == {"loops": ["fv1"]}
    resp = await api.post("/api/loops/fv1/profile", data="stop")
    assert resp.status == 200
    resp = await api.delete("/api/profiles/ale")
    assert resp.status == 204


async def test_absolute_profiles(api: TestClient) -> None:
    body = {
        "id": "lager",
        "points": [
            {"at": "2026-11-24T18:00:00+00:00", "temperature": 10},
            {"at": "2026-12-24T18:00:00+01:00", "temperature": 1},
        ],
    }
    saved = await create(api, "profiles", body)
    assert saved["points"][1]["at"] == "2026-12-24T18:00:00+01:00"


BAD_PROFILES: list[tuple[str, dict[str, Any], str]] = [
    ("no points", {"points": []}, "points"),
    (
        "descending",
        {"points": [{"offset": 10, "temperature": 1}, {"offset": 5, "temperature": 1}]},
        "body",
    ),
    (
        "equal times",
        {"points": [{"offset": 0, "temperature": 1}, {"offset": 0, "temperature": 2}]},
        "body",
    ),
    ("too hot", {"points": [{"offset": 0, "temperature": 500}]}, "points.0.temperature"),
    ("too cold", {"points": [{"offset": 0, "temperature": -100}]}, "points.0.temperature"),
    ("negative offset", {"points": [{"offset": -1, "temperature": 10}]}, "points.0.offset"),
    (
        "offset and date",
        {"points": [{"offset": 0, "at": "2026-01-01T00:00:00Z", "temperature": 1}]},
        "points.0",
    ),
    ("neither", {"points": [{"temperature": 1}]}, "points.0"),
    ("offset past ten years", {"points": [{"offset": 1e15, "temperature": 1}]}, "points.0.offset"),
    ("date as a number", {"points": [{"at": 0, "temperature": 1}]}, "points.0.at"),
    (
        "date in year 1",
        {"points": [{"at": "0001-01-01T00:00:00+01:00", "temperature": 1}]},
        "points.0",
    ),
    ("naive date", {"points": [{"at": "2026-01-01T00:00:00", "temperature": 1}]}, "points.0"),
    (
        "mixed",
        {
            "points": [
                {"offset": 0, "temperature": 1},
                {"at": "2026-01-01T00:00:00Z", "temperature": 1},
            ]
        },
        "body",
    ),
    ("missing temperature", {"points": [{"offset": 0}]}, "points.0.temperature"),
    (
        "bad interpolation",
        {"points": [{"offset": 0, "temperature": 1}], "interpolation": "cubic"},
        "interpolation",
    ),
    (
        "unknown field",
        {"points": [{"offset": 0, "temperature": 1, "gravity": 1.05}]},
        "points.0.gravity",
    ),
]


@pytest.mark.parametrize(
    ("case", "change", "field"), BAD_PROFILES, ids=[c[0] for c in BAD_PROFILES]
)
async def test_bad_profiles_are_refused(
    api: TestClient, case: str, change: dict[str, Any], field: str
) -> None:
    resp = await api.post("/api/profiles", json={**ALE, **change})
    body = await resp.json()
    assert resp.status == 422, body
    assert field in [d["field"] for d in body["detail"]], body


async def test_brewpi_csv_round_trip(api: TestClient) -> None:
    resp = await api.put(
        "/api/profiles/brewpi/csv?name=From%20BrewPi",
        data=BREWPI_CSV,
        headers={"Content-Type": "text/csv"},
    )
    imported = await resp.json()
    assert resp.status == 201, imported
    assert imported["name"] == "From BrewPi"
    assert [(p["offset"], p["temperature"]) for p in imported["points"]] == [
        (0.0, 18.0),
        (259200.0, 18.0),
        (345600.0, 21.0),
        (604800.0, None),  # empty cell: control off
        (626400.0, 2.0),
    ]
    resp = await api.get("/api/profiles/brewpi/csv?start=2024-03-01T12:00:00")
    assert resp.status == 200 and resp.content_type == "text/csv"
    exported = await resp.text()
    assert exported.splitlines() == [
        "date,temperature,days",
        "2024-03-01T12:00:00,18,0.0000",
        "2024-03-04T12:00:00,18,3.0000",
        "2024-03-05T12:00:00,21,4.0000",
        "2024-03-08T12:00:00,,7.0000",
        "2024-03-08T18:00:00,2,7.2500",
    ]
    resp = await api.put(
        "/api/profiles/again/csv", data=exported, headers={"Content-Type": "text/csv"}
    )
    again = await resp.json()
    assert again["points"] == imported["points"]

    # replacing needs the version read
    resp = await api.put("/api/profiles/brewpi/csv", data=exported)
    assert resp.status == 409
    resp = await api.put("/api/profiles/brewpi/csv?version=1&interpolation=step", data=exported)
    assert resp.status == 200 and (await resp.json())["interpolation"] == "step"


async def test_days_only_csv(api: TestClient) -> None:
    resp = await api.put("/api/profiles/days/csv", data="temperature,days\n20,0\n22,1.5\n")
    body = await resp.json()
    assert resp.status == 201, body
    assert [p["offset"] for p in body["points"]] == [0.0, 129600.0]


BAD_CSV = [
    ("empty", "", "body"),
    ("no header", "2024-03-01T12:00:00,18,0\n", "line 1: header"),
    ("header only", "date,temperature,days\n", "body"),
    ("bad date", "date,temperature\nyesterday,18\n", "line 2: date"),
    (
        "bad temperature",
        "date,temperature,days\n2024-03-01T12:00:00,warm,0\n",
        "line 2: temperature",
    ),
    ("too hot", "date,temperature,days\n2024-03-01T12:00:00,180,0\n", "line 2: temperature"),
    (
        "not ascending",
        "date,temperature,days\n2024-03-02T12:00:00,18,0\n2024-03-01T12:00:00,18,1\n",
        "line 3: date",
    ),
    ("short row", "date,temperature,days\n2024-03-01T12:00:00\n", "line 2: row"),
    ("infinite", "date,temperature,days\n2024-03-01T12:00:00,inf,0\n", "line 2: temperature"),
    ("a bare carriage return", "\r", "body"),
    ("carriage return mid-header", "date,tem\rperature\n", "line 1: header"),
    ("a field past the csv limit", "date,temperature\n" + "1" * 200_000 + ",2\n", "body"),
    ("days past ten years", "temperature,days\n20,0\n20,9999999\n", "line 3: offset"),
]


async def test_old_mac_line_ends_import(api: TestClient) -> None:
    resp = await api.put("/api/profiles/mac/csv", data="temperature,days\r20,0\r22,1.5\r")
    body = await resp.json()
    assert resp.status == 201, body
    assert [p["offset"] for p in body["points"]] == [0.0, 129600.0]


async def test_an_export_past_the_calendar_is_a_400(api: TestClient) -> None:
    await create(api, "profiles", ALE)
    resp = await api.get("/api/profiles/ale/csv?start=9999-12-31T00:00:00")
    body = await resp.json()
    assert resp.status == 400, body
    assert body["detail"]["field"] == "start"


@pytest.mark.parametrize(("case", "text", "field"), BAD_CSV, ids=[c[0] for c in BAD_CSV])
async def test_bad_brewpi_csv_names_the_line(
    api: TestClient, case: str, text: str, field: str
) -> None:
    resp = await api.put("/api/profiles/bad/csv", data=text.encode())
    body = await resp.json()
    assert resp.status == 422, body
    assert field in [d["field"] for d in body["detail"]], body
    resp = await api.get("/api/profiles/bad")
    assert resp.status == 404
