"""The same API on PostgreSQL (a brewery's database).

Uses `MAELSTROM_TEST_POSTGRES_URL` when set; otherwise, when PostgreSQL's server
binaries are installed, a throwaway cluster on a free port; otherwise skipped,
saying why.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from services.common.config import Config
from tests.api.conftest import ALE, FERMENTER_DEVICE, FERMENTER_LOOP, create, start_api
from tests.support.postgres import postgres_server


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    with postgres_server() as url:
        yield url


@pytest.mark.xdist_group("postgres")
async def test_the_api_on_postgresql(config: Config, postgres_url: str) -> None:
    import psycopg2

    with psycopg2.connect(postgres_url) as conn, conn.cursor() as cur:  # a clean slate
        cur.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    api = await start_api(dataclasses.replace(config, database_url=postgres_url, demo=True))
    try:
        resp = await api.get("/api/health")
        assert (await resp.json())["database"]["ok"]
        resp = await api.get("/api/loops")
        assert [loop["id"] for loop in await resp.json()] == ["fermenter", "kettle"]

        await create(api, "devices", FERMENTER_DEVICE)
        await create(api, "profiles", {**ALE, "id": "ale-2"})
        loop = await create(api, "loops", FERMENTER_LOOP)
        resp = await api.put("/api/loops/fv1", json={**loop, "name": "twelve"})
        assert resp.status == 200
        resp = await api.put("/api/loops/fv1", json={**loop, "name": "thirteen"})
        assert resp.status == 409
        resp = await api.delete("/api/devices/ferm")
        assert resp.status == 409
        resp = await api.put("/api/settings/units", json={"value": {"temperature": "C"}})
        assert resp.status == 201

        resp = await api.get("/api/backup")
        backup = await resp.json()
        resp = await api.post("/api/restore", json=backup)
        assert resp.status == 200, await resp.text()
        resp = await api.get("/api/loops/fv1")
        assert (await resp.json())["name"] == "twelve"
    finally:
        await api.close()
