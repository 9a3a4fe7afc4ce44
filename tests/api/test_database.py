"""SQLite under load: REST writes beside the history recorder never answer 503."""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from collections import Counter

from aiohttp.test_utils import TestClient, TestServer

from services.api.app import create_app
from services.api.history import RECORDER
from services.common.config import Config
from tests.support.broker import Broker
from tests.support.probe import MqttProbe

RATE = 300  # samples a second, as a busy brewery's sensors and loops
WRITES = 1_000


def publish_samples(broker: Broker, stop: threading.Event, sent: list[int]) -> None:
    """Sensor readings at RATE/s, every one a new value (so every one is stored)."""
    probe = MqttProbe(broker.port)
    try:
        start = time.monotonic()
        n = 0
        while not stop.is_set():
            due = int((time.monotonic() - start) * RATE)
            for _ in range(due - n):
                payload = {"value": 15 + random.random() * 10, "ts": time.time()}
                probe.client.publish(f"maelstrom/data/sensors/ferm/s{n % 30}", json.dumps(payload))
                n += 1
            stop.wait(0.01)  # pacing the load, not waiting for a result
        sent.append(n)
    finally:
        probe.close()


async def test_rest_writes_beside_300_samples_a_second_never_answer_503(
    config: Config, broker: Broker
) -> None:
    app = create_app(config)
    async with TestClient(TestServer(app)) as client:
        recorder = app[RECORDER]
        while not recorder.subscribed:
            await asyncio.sleep(0.02)
        # Many short transactions rather than one a second: the contention a slower
        # disk or a burst gives, so a lock taken late shows within a thousand writes.
        recorder.batch_s = 0.02
        stop, sent = threading.Event(), []
        load = threading.Thread(target=publish_samples, args=(broker, stop, sent), daemon=True)
        load.start()
        statuses: Counter[int] = Counter()
        try:
            version = 0
            for i in range(WRITES):
                resp = await client.put(
                    "/api/settings/brewhouse", json={"value": {"batch": i}, "version": version}
                )
                statuses[resp.status] += 1
                if resp.status in (200, 201):
                    version = (await resp.json())["version"]
                else:
                    resp.release()
        finally:
            stop.set()
            await asyncio.to_thread(load.join, 10)
        assert recorder.received > RATE, "history was not recording beside the writes"
    assert statuses == {201: 1, 200: WRITES - 1}, statuses
