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
