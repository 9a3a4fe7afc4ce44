"""The same API on PostgreSQL (a brewery's database).

Uses `MAELSTROM_TEST_POSTGRES_URL` when set; otherwise, when PostgreSQL's server
binaries are installed, a throwaway cluster on a free port; otherwise skipped,
saying why.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.common.config import Config
from tests.api.conftest import ALE, FERMENTER_DEVICE, FERMENTER_LOOP, create, start_api
from tests.support.ports import free_port


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def _as_postgres(cmd: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root; CI and dev machines here run as root.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    pytest.importorskip("psycopg2", reason="psycopg2 is not installed (pip install '.[postgres]')")
    url = os.environ.get("MAELSTROM_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not (initdb and pg_ctl):
        pytest.skip(
            "no PostgreSQL reachable: set MAELSTROM_TEST_POSTGRES_URL or install postgresql"
        )
    if os.geteuid() == 0 and not shutil.which("runuser"):
        pytest.skip("no PostgreSQL reachable: running as root without runuser")
    workdir = Path(tempfile.mkdtemp(prefix="maelstrom-pg-"))
    if os.geteuid() == 0:
        shutil.chown(workdir, "postgres")
    data = workdir / "data"
    port = free_port()
    try:
        subprocess.run(
            _as_postgres([initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"]),
            check=True,
            capture_output=True,
            timeout=120,
        )
        subprocess.run(
            _as_postgres(
                [
                    pg_ctl,
                    "-D",
                    str(data),
                    "-w",
                    "-o",
                    f"-p {port} -k {workdir} -c listen_addresses=127.0.0.1 -c fsync=off",
                    "-l",
                    str(workdir / "log"),
                    "start",
                ]
            ),
            check=True,
            capture_output=True,
            timeout=60,
        )
    except (subprocess.SubprocessError, OSError) as exc:
        shutil.rmtree(workdir, ignore_errors=True)
        pytest.skip(f"no PostgreSQL reachable: could not start a throwaway server ({exc})")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            _as_postgres([pg_ctl, "-D", str(data), "-m", "immediate", "stop"]),
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(workdir, ignore_errors=True)


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
        resp = await api.put("/api/loops/fv1", json={**loop, "setpoint": 12})
        assert resp.status == 200
        resp = await api.put("/api/loops/fv1", json={**loop, "setpoint": 13})
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
        assert (await resp.json())["setpoint"] == 12
    finally:
        await api.close()
