"""A broker outage leaves no hole in history: the controller holds the readings it
takes while the broker is away and publishes them once it is back, and the
recorder's persistent QoS 1 session gets them even if it reconnects last."""

from __future__ import annotations

import itertools
import time
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from services.api.app import create_app
from services.api.history import RECORDER
from services.api.history.settings import KEY
from services.common.config import Config
from tests.controller.support import fermenter_device, fermenter_loop, sim_controller
from tests.history.conftest import Api
from tests.support.broker import Broker
from tests.support.probe import MqttProbe
from tests.support.waiting import eventually

BEER = "sensor/sim-fermenter/beer"
OUTAGE_S = 60.0  # simulated seconds without a broker
PUBLISH_EVERY_S = 5.0  # a reading is published at least this often (Timing default)


async def post(api: Api, path: str, body: dict[str, Any]) -> None:
    async with api.client.post(path, json=body) as resp:
        assert resp.status in (200, 201), await resp.text()


async def put(api: Api, path: str, body: dict[str, Any]) -> None:
    async with api.client.put(path, json=body) as resp:
        assert resp.status in (200, 201), await resp.text()


async def test_a_60_s_broker_outage_leaves_no_gap_in_history(
    api: Api, broker: Broker, config: Config
) -> None:
    # Store a value that holds once a second, so every published reading shows.
    await put(api, f"/api/settings/{KEY}", {"value": {"heartbeat_s": 1}})
    await eventually(lambda: api.recorder.settings.heartbeat_s == 1, what="history settings")
    await post(api, "/api/devices", fermenter_device().model_dump(mode="json"))
    await post(api, "/api/loops", fermenter_loop().model_dump(mode="json"))
    async with sim_controller(config, start=time.time()) as run:
        await run.running("fermenter")
        await run.advance(10)
        ctl = run.ctl

        broker.stop()
        await eventually(lambda: not ctl.mqtt.connected.is_set(), what="the controller sees it")
        went = run.clock.now()
        await run.advance(OUTAGE_S)  # control goes on: the board is on its serial line
        back = run.clock.now()
        broker.start()

        await eventually(ctl.mqtt.connected.is_set, 20, "the controller reconnects")
        await eventually(lambda: run.ctl.registry.ctx.data.held == 0, 20, "backlog delivered")
        await run.advance(10)

        async def stored_through_the_outage() -> list[float]:
            await api.recorder.flush()
            _, body = await api.get(
                "/api/history", series=BEER, from_=went - 10, to=back + 10, points=5000
            )
            times = body["series"][0]["t"]
            return times if times and times[-1] >= back + 5 else []

        times = await eventually(stored_through_the_outage, 20, "history after the outage")
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert times[0] <= went and times[-1] >= back
    assert max(gaps) <= PUBLISH_EVERY_S + 1, f"a gap of {max(gaps):.1f} s in history"
    assert sum(went <= t <= back for t in times) >= OUTAGE_S / PUBLISH_EVERY_S
    assert ctl.registry.ctx.data.dropped == 0


async def test_readings_published_while_the_api_is_down_are_recorded_when_it_returns(
    config: Config, probe: MqttProbe
) -> None:
    async def started() -> TestClient:
        client = TestClient(TestServer(create_app(config)))
        await client.start_server()
        await eventually(lambda: client.app[RECORDER].subscribed, what="the recorder subscribes")
        return client

    first = await started()
    await first.close()  # the API is down: the broker queues for the recorder's session
    t0 = round(time.time()) - 60.0  # whole seconds: history keeps milliseconds
    for i in range(5):
        reading = {"value": 20.0 + i, "unit": "°C", "ts": t0 + 10 * i}
        probe.publish("maelstrom/data/sensors/ferm/beer", reading, qos=1)
    second = await started()
    try:

        async def recorded() -> list[float]:
            await second.app[RECORDER].flush()
            async with second.get(
                "/api/history",
                params={"series": "sensor/ferm/beer", "from": str(t0 - 1), "to": str(t0 + 50)},
            ) as resp:
                body = await resp.json()
            return body["series"][0]["t"] if len(body["series"][0]["t"]) == 5 else []

        assert await eventually(recorded, what="the readings sent while it was down") == [
            t0 + 10 * i for i in range(5)
        ]
    finally:
        await second.close()
