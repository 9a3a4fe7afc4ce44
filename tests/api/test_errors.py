"""One error policy: domain errors mapped to HTTP in one place, and a database that
cannot answer is a 503 with Retry-After on every route, never a 500."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from services.api.database import DATABASE
from services.api.errors import ApiError, Conflict, Invalid, NotFound, status_of
from services.common.web import MQTT
from tests.support.broker import Broker


def test_domain_errors_map_to_one_status_each() -> None:
    class StaleLoop(Conflict):
        pass

    class NoController(ApiError):
        status = 504  # an error that names its own status still gets it

    assert [status_of(e) for e in (NotFound(), StaleLoop(), Invalid(), NoController())] == [
        404,
        409,
        422,
        504,
    ]


@pytest.fixture
def locked_database(api: TestClient, database_url: str) -> Iterator[None]:
    """Another connection holds the write lock; the API gives up after 50 ms, not 5 s."""
    api.app[DATABASE].execute_sql("PRAGMA busy_timeout = 50")  # type: ignore[index]
    other = sqlite3.connect(Path(database_url.removeprefix("sqlite:///")), timeout=1)
    other.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        other.rollback()
        other.close()


async def test_a_locked_database_is_a_503_with_retry_after(
    api: TestClient, locked_database: None
) -> None:
    resp = await api.put("/api/settings/units", json={"value": "F"})
    assert resp.status == 503
    assert resp.headers["Retry-After"] == "2"
    body = await resp.json()
    assert body["error"] == "database unavailable" and "locked" in body["detail"]
    # Nothing was stored, and the cached read still says so.
    assert await (await api.get("/api/settings")).json() == []


async def test_the_write_goes_through_once_the_database_is_back(api: TestClient) -> None:
    resp = await api.put("/api/settings/units", json={"value": "F"})
    assert resp.status == 201
    assert (await (await api.get("/api/settings/units")).json())["value"] == "F"


async def test_a_broker_that_is_gone_is_a_503_with_retry_after(
    api: TestClient, fermenter: dict[str, Any], broker: Broker
) -> None:
    broker.stop()
    mqtt = api.app[MQTT]  # type: ignore[index]
    await asyncio.wait_for(mqtt.disconnected.wait(), 10)
    resp = await api.get("/api/health")
    assert resp.status == 503 and resp.headers["Retry-After"] == "2"
    assert (await resp.json())["status"] == "degraded"
    resp = await api.post("/api/loops/fv1/setpoint", data="20.5")
    assert resp.status == 503 and resp.headers["Retry-After"] == "2"
    assert (await resp.json())["error"] == "broker unavailable"
