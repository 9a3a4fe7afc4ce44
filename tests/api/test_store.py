"""The store serves reads from memory: every write is visible at once, whoever made it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from services.api.openapi import undocumented
from services.api.routes.openapi import DOCUMENT
from services.api.store import STORE
from services.common.config import Config
from services.common.schema.config import Loop, Setting
from services.common.schema.target import LoopTarget
from tests.api.conftest import FERMENTER_DEVICE, FERMENTER_LOOP, start_api
from tests.support.broker import Broker
from tests.support.ports import free_port, wait_for_port
from tests.support.services import Service, service_env
from tests.support.waiting import eventually


async def get(api: TestClient, path: str) -> Any:
    resp = await api.get(path)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def test_put_then_get_returns_the_new_object(
    api: TestClient, fermenter: dict[str, Any]
) -> None:
    assert (await get(api, "/api/loops/fv1"))["name"] == "FV1"  # now cached
    resp = await api.put("/api/loops/fv1", json={**fermenter, "name": "Tank 1"})
    assert resp.status == 200, await resp.text()
    assert (await get(api, "/api/loops/fv1"))["name"] == "Tank 1"
    assert [loop["name"] for loop in await get(api, "/api/loops")] == ["Tank 1"]

    resp = await api.patch("/api/loops/fv1", json={"setpoint_max": 25})
    assert resp.status == 200, await resp.text()
    loop = await get(api, "/api/loops/fv1")
    assert loop["setpoint_max"] == 25 and loop["version"] == fermenter["version"] + 2

    await get(api, "/api/settings")
    resp = await api.put("/api/settings/units", json={"value": "F"})
    assert resp.status == 201
    assert await get(api, "/api/settings/units") == {"key": "units", "value": "F", "version": 1}
    assert await get(api, "/api/settings") == [{"key": "units", "value": "F", "version": 1}]

    resp = await api.delete("/api/loops/fv1")
    assert resp.status == 204
    assert (await api.get("/api/loops/fv1")).status == 404
    assert await get(api, "/api/loops") == []


async def test_a_write_through_the_store_is_visible_at_once(
    api: TestClient, fermenter: dict[str, Any]
) -> None:
    store = api.app[STORE]  # type: ignore[index]
    await get(api, "/api/loops/fv1")
    await get(api, "/api/settings")
    loop = Loop.model_validate({**FERMENTER_LOOP, "version": fermenter["version"]})
    store.put("loops", loop.model_copy(update={"name": "From the store"}))
    assert (await get(api, "/api/loops/fv1"))["name"] == "From the store"
    store.put_setting(Setting(key="units", value="C"))
    assert (await get(api, "/api/settings/units"))["value"] == "C"

    restored = store.replace_all([], [], [], [])
    assert restored == {"settings": 0, "devices": 0, "profiles": 0, "loops": 0}
    assert await get(api, "/api/loops") == []
    assert await get(api, "/api/devices") == []
    assert await get(api, "/api/settings") == []


async def test_a_mirrored_target_is_visible_at_once(
    api: TestClient, fermenter: dict[str, Any]
) -> None:
    """The controller's target reaches the database without a config publish; the
    cache must hear of it all the same."""
    store = api.app[STORE]  # type: ignore[index]
    assert (await get(api, "/api/loops/fv1"))["setpoint"] == 19.0
    store.set_target("fv1", LoopTarget(loop="fv1", revision=1, mode="constant", setpoint=21.5))
    loop = await get(api, "/api/loops/fv1")
    assert loop["setpoint"] == 21.5 and loop["version"] == fermenter["version"]
    assert (await get(api, "/api/loops"))[0]["setpoint"] == 21.5


async def test_a_rolled_back_write_is_never_served(
    api: TestClient, fermenter: dict[str, Any]
) -> None:
    store = api.app[STORE]  # type: ignore[index]
    loop = store.get("loops", "fv1")

    class Abort(Exception):
        pass

    with pytest.raises(Abort), store.db.atomic():
        store.put("loops", loop.model_copy(update={"name": "Never committed"}))
        assert store.get("loops", "fv1").name == "Never committed"  # read inside: not kept
        raise Abort
    assert (await get(api, "/api/loops/fv1"))["name"] == "FV1"


async def test_a_write_by_another_api_process_is_seen(
    config: Config, broker: Broker, tmp_path: Path
) -> None:
    """Two API processes on one database: the config one publishes invalidates the other's
    cache. (The other is a real second process: peewee's models bind one database per
    process.)"""
    port = free_port()
    env = service_env(
        broker.url,
        MAELSTROM_HTTP_HOST="127.0.0.1",
        MAELSTROM_HTTP_PORT=str(port),
        MAELSTROM_DATABASE_URL=config.database_url,
        MAELSTROM_AUTH="off",
    )
    second = Service("services.api", env, tmp_path / "second.log")
    first = await start_api(config)
    try:
        wait_for_port(port, timeout=20)
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as http:

            async def devices() -> list[Any]:
                async with http.get(f"{base}/api/devices") as resp:
                    return list(await resp.json())

            assert await devices() == []  # cached empty
            resp = await first.post("/api/devices", json=FERMENTER_DEVICE)
            assert resp.status == 201, await resp.text()
            listed = await eventually(devices, 10, "the second process sees the new device")
            assert [d["id"] for d in listed] == ["ferm"]
    finally:
        second.stop()
        await first.close()


async def test_openapi_document_is_built_once_and_lists_every_route(api: TestClient) -> None:
    first = await api.get("/api/openapi.json")
    second = await api.get("/api/openapi.json")
    assert first.status == second.status == 200
    assert first.headers["Content-Type"].startswith("application/json")
    assert await first.read() == await second.read()
    app = api.app
    assert app[DOCUMENT].body(app) is app[DOCUMENT].body(app)  # type: ignore[index]

    served = await first.json()
    documented = {(m.upper(), p) for p, ops in served["paths"].items() for m in ops}
    routes = {
        (r.method, r.resource.canonical)
        for r in app.router.routes()  # type: ignore[union-attr]
        if r.resource is not None
        and r.resource.canonical.startswith("/api/")
        and r.method not in ("HEAD", "*")
    }
    assert undocumented(app) == []  # type: ignore[arg-type]
    assert documented == routes
    assert ("GET", "/api/history") in documented  # registered after the openapi route
