"""Whatever a client sends, the answer is a 4xx JSON error naming what is wrong."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from services.api.app import MAX_BODY_BYTES

JSON = {"Content-Type": "application/json"}

BAD_REQUESTS: list[tuple[str, str, str, bytes, dict[str, str], int, str]] = [
    ("malformed JSON", "POST", "/api/devices", b'{"id": ', JSON, 400, "malformed JSON"),
    ("trailing garbage", "POST", "/api/devices", b'{"id": "a"} x', JSON, 400, "malformed JSON"),
    (
        "nested too deeply",
        "POST",
        "/api/devices",
        b"[" * 100_000 + b"]" * 100_000,
        JSON,
        400,
        "malformed JSON",
    ),
    (
        "NaN",
        "POST",
        "/api/profiles",
        b'{"id":"p","points":[{"offset":0,"temperature":NaN}]}',
        JSON,
        400,
        "malformed JSON",
    ),
    (
        "huge number",
        "POST",
        "/api/profiles",
        b'{"id":"p","points":[{"offset":1e999,"temperature":1}]}',
        JSON,
        400,
        "malformed JSON",
    ),
    ("not UTF-8", "POST", "/api/devices", b'{"id": "\xff"}', JSON, 400, "malformed JSON"),
    (
        "lone surrogate",
        "PUT",
        "/api/settings/x",
        b'{"value": "\\ud800"}',
        JSON,
        400,
        "malformed JSON",
    ),
    (
        "deep nesting",
        "PUT",
        "/api/settings/x",
        b'{"value": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        JSON,
        400,
        "malformed JSON",
    ),
    ("empty body", "POST", "/api/devices", b"", JSON, 400, "empty body"),
    (
        "form content type",
        "POST",
        "/api/devices",
        b"id=a",
        {"Content-Type": "application/x-www-form-urlencoded"},
        415,
        "unsupported media type",
    ),
    ("no content type", "POST", "/api/loops", b'{"id": "a"}', {}, 415, "unsupported media type"),
    ("bad path id", "GET", "/api/loops/NOT..OK", b"", {}, 400, "bad id"),
    ("bad path id on put", "PUT", "/api/profiles/-x", b"{}", JSON, 400, "bad id"),
    ("bad version query", "DELETE", "/api/loops/a?version=new", b"", {}, 400, "bad version"),
    ("negative version query", "DELETE", "/api/loops/a?version=-1", b"", {}, 400, "bad version"),
    ("unknown route", "GET", "/api/brewery", b"", {}, 404, "not found"),
    ("wrong method", "DELETE", "/api/devices", b"", {}, 405, "method not allowed"),
    (
        "too large",
        "PUT",
        "/api/settings/x",
        b'{"value": "' + b"a" * MAX_BODY_BYTES + b'"}',
        JSON,
        413,
        "request body too large",
    ),
]


@pytest.mark.parametrize(
    ("case", "method", "path", "body", "headers", "status", "error"),
    BAD_REQUESTS,
    ids=[c[0] for c in BAD_REQUESTS],
)
async def test_bad_requests_get_json_errors(
    api: TestClient,
    case: str,
    method: str,
    path: str,
    body: bytes,
    headers: dict[str, str],
    status: int,
    error: str,
) -> None:
    resp = await api.request(method, path, data=body, headers=headers)
    data: dict[str, Any] = await resp.json()
    assert resp.status == status, data
    assert data["error"] == error
    assert set(data) == {"error", "detail"}
    resp = await api.get("/api/health")
    assert resp.status == 200  # still serving


async def test_a_405_says_which_methods_are_allowed(api: TestClient) -> None:
    resp = await api.request("DELETE", "/api/devices")
    data = await resp.json()
    assert resp.status == 405
    assert (
        set(resp.headers["Allow"].split(", "))
        == set(data["detail"]["allowed"])
        >= {
            "GET",
            "POST",
        }
    )


async def test_flags_take_exactly_what_the_document_lists(api: TestClient) -> None:
    resp = await api.post("/api/publish/data/flag?retain=true", data="1")
    assert resp.status == 202 and (await resp.json())["retain"] is True
    resp = await api.post("/api/publish/data/flag?retain=TRUE%20", data="1")
    assert resp.status == 400


async def test_a_put_may_leave_out_the_id_and_the_document_says_so(api: TestClient) -> None:
    resp = await api.put("/api/profiles/short", json={"points": [{"offset": 0, "temperature": 1}]})
    assert resp.status == 201 and (await resp.json())["id"] == "short"
    resp = await api.get("/api/openapi.json")
    spec = await resp.json()
    body = spec["paths"]["/api/profiles/{id}"]["put"]["requestBody"]["content"]
    ref = body["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert "id" not in spec["components"]["schemas"][ref]["required"]
    assert "id" in spec["components"]["schemas"]["Profile"]["required"]
