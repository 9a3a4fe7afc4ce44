"""Housekeeping on the broker, with the API run as `make run-all` runs it: ghost
retained data is removed at start and on delete, and a second API that cannot have
the port leaves the running one's status alone."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp

from tests.api.conftest import FERMENTER_DEVICE
from tests.support.broker import Broker
from tests.support.ports import free_port, wait_for_port
from tests.support.probe import MqttProbe, received
from tests.support.services import Service, service_env

GHOST_ALARM = {
    "message": "Old fermenter: 30 °C",
    "kind": "high",
    "severity": "high",
    "source": "old-fermenter",
    "raised_at": 100.0,
    "ts": 100.0,
}
PILOT = {"message": "Pilot light out", "kind": "external", "raised_at": 100.0, "ts": 100.0}


def api_env(broker: Broker, tmp_path: Path, port: int) -> dict[str, str]:
    return service_env(
        broker.url,
        MAELSTROM_HTTP_HOST="127.0.0.1",
        MAELSTROM_HTTP_PORT=str(port),
        MAELSTROM_DATABASE_URL=f"sqlite:///{tmp_path / 'maelstrom.db'}",
        MAELSTROM_DEMO="0",
    )


def retained(broker: Broker, topic_filter: str) -> dict[str, bytes]:
    """What a client subscribing now is handed (retained messages only)."""
    fresh = MqttProbe(broker.port)
    try:
        fresh.subscribe(topic_filter)
        fresh.publish("housekeeping-test/sentinel", b"x")  # after the retained ones
        fresh.subscribe("housekeeping-test/sentinel")
        fresh.publish("housekeeping-test/sentinel", b"x")
        fresh.wait_for("housekeeping-test/sentinel", timeout=5)
        return {m.topic: m.payload for m in fresh.messages if m.retain and m.payload}
    finally:
        fresh.close()


async def test_ghost_retained_data_from_a_previous_database_disappears_on_start(
    broker: Broker, probe: MqttProbe, tmp_path: Path
) -> None:
    ghosts = {
        "maelstrom/data/old-fermenter": {"loop": "old-fermenter", "mode": "off", "ts": 1},
        "maelstrom/data/sensors/old-board/beer": {"value": 19.8, "unit": "°C", "ts": 1},
        "maelstrom/alarms/old-fermenter-high": GHOST_ALARM,
    }
    for topic, payload in {**ghosts, "maelstrom/alarms/pilot": PILOT}.items():
        probe.publish(topic, payload, retain=True)
    probe.subscribe("maelstrom/#")
    port = free_port()
    api = Service("services.api", api_env(broker, tmp_path, port), tmp_path / "api.log")
    try:
        wait_for_port(port, timeout=20)
        for topic in ghosts:
            await received(probe, topic, lambda m: m.payload == b"", timeout=10)
        left = retained(broker, "maelstrom/#")
        assert not set(ghosts) & set(left), left
        assert json.loads(left["maelstrom/alarms/pilot"])["message"] == "Pilot light out"

        # Deleting a device takes its retained readings with it.
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{base}/api/devices", json=FERMENTER_DEVICE) as resp:
                assert resp.status == 201, await resp.text()
            device = FERMENTER_DEVICE["id"]
            reading = f"maelstrom/data/sensors/{device}/beer"
            probe.publish(reading, {"value": 20.1, "unit": "°C", "ts": 2}, retain=True)
            await received(probe, reading, lambda m: bool(m.payload))
            async with http.delete(f"{base}/api/devices/{device}") as resp:
                assert resp.status == 204, await resp.text()
            await received(probe, reading, lambda m: m.payload == b"", timeout=10)
    finally:
        api.stop()


async def test_a_second_api_that_cannot_bind_leaves_the_first_online(
    broker: Broker, probe: MqttProbe, tmp_path: Path
) -> None:
    port = free_port()
    env = api_env(broker, tmp_path, port)
    first = Service("services.api", env, tmp_path / "first.log")
    try:
        wait_for_port(port, timeout=20)
        probe.subscribe("maelstrom/status/api")
        await received(probe, "maelstrom/status/api", lambda m: m.payload == b"online")
        mark = probe.mark()
        second = Service("services.api", env, tmp_path / "second.log")
        second.proc.wait(timeout=20)
        assert second.stop() != 0
        assert "cannot listen" in second.output()
        assert retained(broker, "maelstrom/status/api") == {"maelstrom/status/api": b"online"}
        assert not [m for m in probe.messages[mark:] if m.payload == b"offline"]
    finally:
        first.stop()
