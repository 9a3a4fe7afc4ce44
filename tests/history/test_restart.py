"""Restarting the API (a real process) loses nothing it received on a clean stop,
and at most the batch window on a crash."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from services.api.database import open_database
from services.api.history.models import Sample, Series
from services.api.history.recorder import BATCH_S
from tests.support.broker import Broker
from tests.support.ports import free_port, wait_for_port
from tests.support.probe import MqttProbe
from tests.support.services import Service, service_env

TOPIC = "maelstrom/data/sensors/sim/beer"
SLACK_S = 1.0  # a write's own duration and scheduling on a busy machine


class Api:
    def __init__(self, broker: Broker, tmp_path: Path) -> None:
        self.port = free_port()
        self.db = tmp_path / "maelstrom.db"
        self.env = service_env(
            broker.url,
            MAELSTROM_HTTP_PORT=str(self.port),
            MAELSTROM_HTTP_HOST="127.0.0.1",
            MAELSTROM_DATABASE_URL=f"sqlite:///{self.db}",
        )
        self.tmp_path = tmp_path
        self.runs = 0
        self.service: Service | None = None

    def start(self) -> None:
        self.runs += 1
        self.service = Service("services.api", self.env, self.tmp_path / f"api-{self.runs}.log")
        wait_for_port(self.port, timeout=20)
        asyncio.run(self._wait_recording())

    async def _wait_recording(self) -> None:
        async with aiohttp.ClientSession() as http:
            for _ in range(500):
                async with http.get(f"http://127.0.0.1:{self.port}/api/history/status") as resp:
                    if resp.status == 200 and (await resp.json())["subscribed"]:
                        return
                await asyncio.sleep(0.02)
        raise TimeoutError("the recorder did not subscribe")

    def stop(self, sig: int) -> None:
        assert self.service is not None
        self.service.stop(sig)

    def stored(self) -> dict[float, float | None]:
        db = open_database(f"sqlite:///{self.db}")
        try:
            series = Series.get(Series.name == "sensor/sim/beer")
            rows = Sample.select(Sample.ts, Sample.value).where(Sample.series_id == series.id)
            return {ts / 1000: v for ts, v in rows.tuples()}
        finally:
            db.close()


@pytest.fixture
def api(broker: Broker, tmp_path: Path) -> Iterator[Api]:
    api = Api(broker, tmp_path)
    api.start()
    yield api
    if api.service is not None:
        api.service.stop()


def publish(probe: MqttProbe, first: int, count: int, t0: float) -> dict[int, float]:
    """Readings `first`… at about 50 a second, each a new value; when each was sent."""
    sent = {}
    for i in range(first, first + count):
        payload = {"value": 10 + i / 100, "unit": "°C", "ts": t0 + i}
        probe.publish(TOPIC, payload, retain=True)  # retained, as the controller does
        sent[i] = time.monotonic()
        time.sleep(0.02)  # pacing the publisher, not waiting for anything
    return sent


def test_a_restart_loses_at_most_the_batch_window(api: Api, probe: MqttProbe) -> None:
    t0 = float(round(time.time()) - 3600)

    publish(probe, 0, 100, t0)
    api.stop(signal.SIGTERM)  # clean: everything received is written, nothing lost
    clean = api.stored()
    assert sorted(clean) == [t0 + i for i in range(100)]
    assert clean[t0 + 99] == 10.99

    api.start()
    sent = publish(probe, 100, 150, t0)
    killed_at = time.monotonic()
    api.stop(signal.SIGKILL)  # a crash: what waited for the next batch is gone
    crashed = api.stored()
    lost = [i for i in range(100, 250) if t0 + i not in crashed]
    old_enough = [i for i in range(100, 250) if sent[i] < killed_at - BATCH_S - SLACK_S]
    assert not set(lost) & set(old_enough), f"lost readings older than the batch window: {lost}"
    assert lost == list(range(250 - len(lost), 250)), "only the newest may be missing"

    api.start()  # the broker re-delivers the retained last reading: stored now
    publish(probe, 250, 20, t0)
    api.stop(signal.SIGTERM)
    final = api.stored()
    assert t0 + 249 in final
    missing = sorted(set(range(270)) - {round(ts - t0) for ts in final})
    assert missing == lost[:-1]  # the crash's loss, less the retained last reading
    print(f"crash lost {len(lost)} readings = {len(lost) * 0.02:.2f} s of traffic")
