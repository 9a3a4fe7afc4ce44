"""The history REST API as a client sees it: shapes, annotations, and 4xx for bad input."""

from __future__ import annotations

import time
from typing import Any

import pytest
from aiohttp import web

from services.api.app import create_app
from services.api.history.routes import routes
from services.api.history.schemas import (
    AlarmHistoryResponse,
    AnnotationOut,
    AnnotationsResponse,
    EventsResponse,
    HistoryResponse,
    LogsResponse,
    RecorderStatus,
    SeriesListResponse,
)
from services.api.history.writer import Batch, SampleIn
from services.api.openapi import build_spec, undocumented
from services.common.config import Config
from tests.history.conftest import Api

T0 = 1_795_000_020.0
T0_ISO = "2026-11-18T11:07:00+00:00"


async def _fill(api: Api) -> None:
    samples = [
        SampleIn("loop/fermenter/pv", "loop", "°C", T0 + t, 18 + (t % 7) / 16) for t in range(3600)
    ]
    await api.recorder.in_writer(api.recorder.writer.write, Batch(samples=samples))


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/api/history", {}, "series"),
        ("/api/history", {"series": ""}, "series"),
        ("/api/history", {"series": "loop/f/pv", "points": "0"}, "points"),
        ("/api/history", {"series": "loop/f/pv", "points": "lots"}, "points"),
        ("/api/history", {"series": "loop/f/pv", "points": "100001"}, "points"),
        ("/api/history", {"series": "loop/f/pv", "from": "yesterday"}, "from"),
        ("/api/history", {"series": "loop/f/pv", "to": "-3 fortnights"}, "to"),
        ("/api/history", {"series": "loop/f/pv", "from": "2026-13-45"}, "from"),
        ("/api/history", {"series": "loop/f/pv", "from": "-1h", "to": "-2h"}, "from"),
        ("/api/history", {"series": "loop/f/pv", "from": "nan"}, "from"),
        ("/api/history", {"series": "loop/f/pv", "form": "-1h"}, "form"),
        ("/api/history", {"series": ",".join(f"s{i}" for i in range(51))}, "series"),
        ("/api/history/series", {"verbose": "1"}, "verbose"),
        ("/api/history/export.csv", {"from": "last week"}, "from"),
        ("/api/history/events", {"kind": "colour"}, "kind"),
        ("/api/history/alarms", {"state": "on fire"}, "state"),
        ("/api/history/alarms", {"limit": "-1"}, "limit"),
        ("/api/history/alarms", {"event": "exploded"}, "event"),
        ("/api/logs", {"level": "loud"}, "level"),
        ("/api/logs", {"limit": "1000000"}, "limit"),
        ("/api/history/annotations", {"to": "soon"}, "to"),
    ],
)
async def test_bad_query_parameters_get_a_400_naming_them(
    api: Api, path: str, params: dict[str, str], field: str
) -> None:
    async with api.client.get(path, params=params) as resp:
        body = await resp.json()
        assert resp.status == 400, body
    assert f"'{field}'" in body["error"]
    assert body["detail"][0]["field"] == field
    assert body["detail"][0]["message"]


async def test_history_answers_in_its_documented_shape(api: Api) -> None:
    await _fill(api)
    status, body = await api.get(
        "/api/history",
        series="loop/fermenter/*,sensor/nothing/here",
        from_=T0,
        to=T0 + 3600,
        points=100,
    )
    assert status == 200
    HistoryResponse.model_validate(body)
    pv, unknown = body["series"]
    assert pv["name"] == "loop/fermenter/pv" and pv["bucket_s"] == 36.0
    assert len(pv["t"]) == 100 and sum(pv["count"]) == 3600
    assert min(pv["min"]) == 18.0 and max(pv["max"]) == 18 + 6 / 16
    assert unknown == {
        "name": "sensor/nothing/here",
        "unit": "",
        "kind": "",
        "bucket_s": 0.0,
        "t": [],
        "min": [],
        "avg": [],
        "max": [],
        "count": [],
    }
    # ISO 8601 and milliseconds mean the same instants as Unix seconds.
    status, same = await api.get(
        "/api/history",
        series="loop/fermenter/pv",
        from_=T0_ISO,
        to=int((T0 + 3600) * 1000),
        points=100,
    )
    assert same["series"][0] == pv
    status, body = await api.get("/api/history/series", token="the-api-token")
    assert status == 200  # ?token= is the API token (docs/api.md), not a typo
    SeriesListResponse.model_validate(body)
    for path, model in (
        ("/api/history/events", EventsResponse),
        ("/api/history/alarms", AlarmHistoryResponse),
        ("/api/logs", LogsResponse),
        ("/api/history/annotations", AnnotationsResponse),
        ("/api/history/status", RecorderStatus),
    ):
        status, body = await api.get(path)
        assert status == 200, (path, body)
        model.model_validate(body)


async def test_annotations_are_added_listed_and_deleted(api: Api) -> None:
    async def post(body: Any) -> tuple[int, Any]:
        async with api.client.post("/api/history/annotations", json=body) as resp:
            return resp.status, await resp.json()

    status, pitched = await post(
        {"ts": "2026-11-20T18:00:00Z", "text": "pitched yeast", "loop": "fermenter"}
    )
    assert status == 201, pitched
    AnnotationOut.model_validate(pitched)
    status, now_note = await post({"text": "  dry hopped  "})
    assert status == 201 and now_note["text"] == "dry hopped" and now_note["loop"] is None
    assert abs(now_note["ts"] - time.time()) < 60

    status, body = await api.get(
        "/api/history/annotations", from_="2026-11-01", to="now", loop="fermenter"
    )
    assert [a["text"] for a in body["annotations"]] == ["pitched yeast", "dry hopped"]
    status, body = await api.get("/api/history/annotations", from_="2026-11-01", loop="kettle")
    assert [a["text"] for a in body["annotations"]] == ["dry hopped"]

    # The API's conventions (docs/api.md): 422 naming the field for a body that does
    # not validate, 400 for malformed JSON, 415 for another content type.
    for bad, field in (
        ({"text": ""}, "text"),
        ({"text": "   "}, "text"),
        ({"text": "x", "loop": "Fermenter 1"}, "loop"),
        ({"text": "x", "ts": "at noon"}, "ts"),
        ({"text": "x", "colour": "red"}, "colour"),
        ([1, 2], "body"),
    ):
        status, body = await post(bad)
        assert status == 422 and body["detail"][0]["field"] == field, (bad, body)
    async with api.client.post(
        "/api/history/annotations", data=b"{not json", headers={"Content-Type": "application/json"}
    ) as resp:
        assert resp.status == 400 and (await resp.json())["detail"]["field"] == "body"
    async with api.client.post("/api/history/annotations", data=b"pitched yeast") as resp:
        assert resp.status == 415

    async with api.client.delete(f"/api/history/annotations/{pitched['id']}") as resp:
        assert resp.status == 204
    async with api.client.delete(f"/api/history/annotations/{pitched['id']}") as resp:
        assert resp.status == 404 and (await resp.json())["error"]
    async with api.client.delete("/api/history/annotations/first") as resp:
        assert resp.status == 400
    # Past SQLite's 64-bit integers (the fuzz found it overflowing into the driver).
    async with api.client.delete("/api/history/annotations/378918053202708666515456") as resp:
        assert resp.status == 404 and (await resp.json())["error"]
    async with api.client.delete("/api/history/annotations/%C2%B2") as resp:  # '²' isdigit()
        assert resp.status == 400
    status, body = await api.get("/api/history/annotations", from_="2026-11-01")
    assert [a["text"] for a in body["annotations"]] == ["dry hopped"]


def test_every_route_is_in_the_openapi_document(config: Config) -> None:
    app = create_app(config)
    assert not [r for r in undocumented(app) if "/history" in r or "/logs" in r]
    paths = build_spec(app)["paths"]
    for route in routes:
        assert isinstance(route, web.RouteDef)
        assert route.method.lower() in paths[route.path], route.path
    history = paths["/api/history"]["get"]
    assert [p["name"] for p in history["parameters"]] == ["from", "to", "series", "points"]
    assert history["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/HistoryResponse"
    }
    assert "text/csv" in paths["/api/history/export.csv"]["get"]["responses"]["200"]["content"]
