"""An API of the test's own: real aiohttp server, real SQLite file, real broker."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from services.api.app import create_app
from services.common.config import Config
from services.common.web import MQTT
from services.controller.app import Controller, running_controller
from services.controller.options import Options
from tests.support.waiting import eventually

FERMENTER_DEVICE: dict[str, Any] = {
    "id": "ferm",
    "kind": "simulated",
    "simulation": "fermenter",
    "sensors": [{"id": "beer"}, {"id": "chamber"}],
    "actuators": [
        {"id": "heater", "role": "heater", "channel": 1},
        {"id": "cooler", "role": "cooler", "channel": 2},
    ],
}
FERMENTER_LOOP: dict[str, Any] = {
    "id": "fv1",
    "name": "FV1",
    "sensor": {"device": "ferm", "id": "beer"},
    "heater": {"device": "ferm", "id": "heater"},
    "cooler": {"device": "ferm", "id": "cooler"},
    "mode": "constant",
    "setpoint": 19.0,
    "setpoint_min": 0,
    "setpoint_max": 30,
}
ALE: dict[str, Any] = {
    "id": "ale",
    "name": "Ale",
    "points": [
        {"offset": 0, "temperature": 18},
        {"offset": 86400, "temperature": 20},
        {"offset": 172800, "temperature": None},
    ],
}


async def start_api(config: Config) -> TestClient:
    app = create_app(config)
    client = TestClient(TestServer(app))
    await client.start_server()
    mqtt = app[MQTT]
    assert await mqtt.wait_connected(10), "API did not reach the broker"
    topics = mqtt.topics
    for topic_filter in (
        topics.all_loop_targets,
        topics.replies(mqtt.client_id),
        topics.all_alarms,
        topics.all_config(),
        topics.status("controller"),
    ):
        assert await mqtt.wait_subscribed(topic_filter, 10), topic_filter
    return client


@pytest.fixture
async def api(config: Config) -> AsyncIterator[TestClient]:
    client = await start_api(config)
    yield client
    await client.close()


@pytest.fixture
async def demo_api(config: Config) -> AsyncIterator[TestClient]:
    client = await start_api(dataclasses.replace(config, demo=True))
    yield client
    await client.close()


@pytest.fixture
def app(api: TestClient) -> web.Application:
    return api.app  # type: ignore[return-value]


async def create(api: TestClient, kind: str, body: dict[str, Any]) -> dict[str, Any]:
    resp = await api.post(f"/api/{kind}", json=body)
    data = await resp.json()
    assert resp.status == 201, data
    return data


@pytest.fixture
async def fermenter(api: TestClient) -> dict[str, Any]:
    """A device and a loop on it; returns the loop as stored."""
    await create(api, "devices", FERMENTER_DEVICE)
    await create(api, "profiles", ALE)
    return await create(api, "loops", FERMENTER_LOOP)


@pytest.fixture
async def controller(config: Config, tmp_path: Path) -> AsyncIterator[Controller]:
    """A real controller in this process, with its own disk state: it owns the targets."""
    options = Options(state_path=str(tmp_path / "controller-state.json"))
    async with running_controller(config, options) as running:
        assert await running.mqtt.wait_connected(10)
        yield running


@pytest.fixture
async def controlled(fermenter: dict[str, Any], controller: Controller) -> Controller:
    """The fermenter loop, run by the controller (commands to it get answers)."""
    await eventually(lambda: "fv1" in controller.loops.loops, 10, "the controller runs fv1")
    return controller
