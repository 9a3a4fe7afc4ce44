"""MAELSTROM_DEMO=1: a simulated fermenter and kettle on an empty database, and only then."""

from __future__ import annotations

import dataclasses

from aiohttp.test_utils import TestClient

from services.common.config import Config
from services.common.loop_commands import profile_temperature
from services.common.schema.config import Profile, ProfileRun
from tests.api.conftest import FERMENTER_DEVICE, create, start_api


async def test_demo_configuration(demo_api: TestClient) -> None:
    resp = await demo_api.get("/api/loops/fermenter")
    fermenter = await resp.json()
    assert fermenter["mode"] == "constant" and fermenter["setpoint"] == 19.0
    assert fermenter["alarms"]["high"] == 26 and fermenter["alarms"]["low"] == 10
    assert fermenter["cooler"] == {"device": "sim-fermenter", "id": "cooler"}
    resp = await demo_api.get("/api/loops/kettle")
    kettle = await resp.json()
    assert kettle["mode"] == "off" and kettle["setpoint_max"] == 105
    resp = await demo_api.get("/api/devices/sim-kettle")
    assert (await resp.json())["simulation"] == "kettle"

    resp = await demo_api.get("/api/profiles/ale")
    ale = Profile.model_validate(await resp.json())
    run = ProfileRun(profile="ale", started_at=0)
    day = 86400
    assert [profile_temperature(ale, run, t * day) for t in (1, 3.5, 5, 9)] == [18, 19.5, 21, 2]
    resp = await demo_api.get("/api/profiles/mash")
    mash = Profile.model_validate(await resp.json())
    assert mash.interpolation == "step"
    assert [profile_temperature(mash, run, m * 60) for m in (30, 70, 80)] == [65, 72, 78]


async def test_no_seed_over_a_brewers_own_configuration(config: Config) -> None:
    api = await start_api(config)
    try:
        await create(api, "devices", FERMENTER_DEVICE)
    finally:
        await api.close()
    api = await start_api(dataclasses.replace(config, demo=True))
    try:
        resp = await api.get("/api/devices")
        assert [d["id"] for d in await resp.json()] == ["ferm"]
        resp = await api.get("/api/loops")
        assert await resp.json() == []
    finally:
        await api.close()


def test_the_demo_flag_comes_from_the_environment() -> None:
    assert Config.from_env({"MAELSTROM_DEMO": "1"}).demo
    assert not Config.from_env({"MAELSTROM_DEMO": "0"}).demo
    assert not Config.from_env({}).demo
