"""The API with its recorder, in-process, against a real broker and a real SQLite file."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import peewee
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from services.api.app import create_app
from services.api.database import open_database
from services.api.history import RECORDER
from services.api.history.models import create_tables
from services.api.history.recorder import Recorder
from services.api.history.settings import HistorySettings
from services.api.history.writer import HistoryWriter
from services.common.config import Config
from services.common.schema.state import LoopState, Output, SensorReading


async def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    async def poll() -> None:
        while not predicate():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(poll(), timeout)


@dataclass
class Api:
    app: web.Application
    client: TestClient

    @property
    def recorder(self) -> Recorder:
        return self.app[RECORDER]

    async def get(self, path: str, **params: Any) -> tuple[int, Any]:
        query = {k.rstrip("_"): str(v) for k, v in params.items()}
        async with self.client.get(path, params=query) as resp:
            if resp.content_type == "application/json":
                return resp.status, await resp.json()
            return resp.status, await resp.text()

    async def received(self, count: int, timeout: float = 10.0) -> None:
        """Wait until the recorder has received `count` items in all, then write them."""
        await wait_until(lambda: self.recorder.received >= count, timeout)
        await self.recorder.flush()

    async def series(self) -> dict[str, dict[str, Any]]:
        status, body = await self.get("/api/history/series")
        assert status == 200, body
        return {s["name"]: s for s in body["series"]}


@pytest.fixture
async def api(config: Config) -> AsyncIterator[Api]:
    app = create_app(config)
    async with TestClient(TestServer(app)) as client:
        await wait_until(lambda: app[RECORDER].subscribed)
        yield Api(app, client)


def loop_state(
    loop: str,
    ts: float,
    pv: float | None,
    sp: float | None = 20.0,
    heat: float = 0.0,
    cool: float = 0.0,
    mode: str = "constant",
    state: str = "idle",
) -> dict[str, Any]:
    """A `maelstrom/data/<loop>` payload as the controller publishes it."""
    return LoopState(
        loop=loop,
        pv=pv,
        sp=sp,
        output=Output(heat=heat, cool=cool),
        mode=mode,  # type: ignore[arg-type]
        state=state,  # type: ignore[arg-type]
        ts=ts,
    ).model_dump(mode="json")


def reading(value: float | None, ts: float, unit: str = "°C") -> dict[str, Any]:
    return SensorReading(value=value, unit=unit, ts=ts).model_dump(mode="json")


@pytest.fixture
def db(database_url: str) -> Iterator[peewee.Database]:
    """The history tables in a fresh SQLite file, bound to the API's database proxy."""
    database = open_database(database_url)
    create_tables(database)
    yield database
    database.close()


def writer_for(db: peewee.Database, **settings: Any) -> HistoryWriter:
    fixed = HistorySettings(**settings)
    return HistoryWriter(db, lambda: fixed)
