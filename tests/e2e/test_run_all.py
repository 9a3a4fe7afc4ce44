"""The whole system as `make run-all` starts it, driven as a user would."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.support.broker import Broker, mosquitto_client
from tests.support.ports import free_port, wait_for_port
from tests.support.probe import MqttProbe
from tests.support.services import Service, service_env


@pytest.fixture
def stack(broker: Broker, tmp_path: Path) -> Iterator[dict[str, object]]:
    http_port = free_port()
    env = service_env(
        broker.url,
        MAELSTROM_HTTP_PORT=str(http_port),
        MAELSTROM_HTTP_HOST="127.0.0.1",
        MAELSTROM_DATABASE_URL=f"sqlite:///{tmp_path / 'maelstrom.db'}",
    )
    services = {
        "api": Service("services.api", env, tmp_path / "api.log"),
        "controller": Service("services.controller", env, tmp_path / "controller.log"),
    }
    try:
        wait_for_port(http_port, timeout=15)
    except TimeoutError:
        pytest.fail("API did not listen:\n" + services["api"].output())
    yield {"http": f"http://127.0.0.1:{http_port}", "services": services}
    for service in services.values():
        service.stop()


def test_services_come_online_and_serve_the_ui(
    stack: dict, probe: MqttProbe, broker: Broker
) -> None:
    probe.subscribe("maelstrom/status/+")
    for service in ("api", "controller"):
        probe.wait_for(f"maelstrom/status/{service}", lambda m: m.text == "online", timeout=15)
    # Retained, so a client that comes later learns it too.
    later = MqttProbe(broker.port)
    try:
        later.subscribe("maelstrom/status/+")
        for service in ("api", "controller"):
            msg = later.wait_for(f"maelstrom/status/{service}", timeout=5)
            assert (msg.text, msg.retain) == ("online", True)
    finally:
        later.close()

    async def check_http() -> None:
        async with aiohttp.ClientSession() as http:
            async with http.get(stack["http"] + "/") as resp:
                assert resp.status == 200
                assert "<title>Maelstrom" in await resp.text()
            async with http.get(stack["http"] + "/api/health") as resp:
                health = await resp.json()
                assert resp.status == 200, health
                assert health["broker"]["ok"] and health["database"]["ok"]

    asyncio.run(check_http())


def test_mosquitto_pub_reaches_a_browser_socket(stack: dict, broker: Broker) -> None:
    async def scenario() -> dict:
        async with aiohttp.ClientSession() as http, http.ws_connect(stack["http"] + "/ws") as ws:

            async def next_frame(op: str) -> dict:
                while True:  # skipping the others (`status` comes first)
                    frame = await ws.receive_json()
                    if frame["op"] == "batch" and op == "message":
                        return frame["messages"][0]  # the bridge batches close messages
                    if frame["op"] == op:
                        return frame

            await ws.send_json({"op": "subscribe", "topic": "maelstrom/alarms/#"})
            # `subscribed`: the bridge's subscription is live, what is published now arrives.
            await asyncio.wait_for(next_frame("subscribed"), 15)
            subprocess.run(
                [
                    mosquitto_client("mosquitto_pub"),
                    "-p",
                    str(broker.port),
                    "-t",
                    "maelstrom/alarms/test",
                    "-m",
                    '{"message": "pilot light out"}',
                ],
                check=True,
            )
            return await asyncio.wait_for(next_frame("message"), 15)

    frame = asyncio.run(scenario())
    assert frame["op"] == "message"
    assert frame["topic"] == "maelstrom/alarms/test"
    # The first delivery is what mosquitto_pub sent (the controller then adopts it
    # and re-publishes a full alarm record on the same topic).
    assert frame["payload"]["message"] == "pilot light out"


def test_stopping_a_service_flips_its_status_offline(stack: dict, probe: MqttProbe) -> None:
    probe.subscribe("maelstrom/status/+")
    probe.wait_for("maelstrom/status/controller", lambda m: m.text == "online", timeout=15)
    probe.wait_for("maelstrom/status/api", lambda m: m.text == "online", timeout=15)
    mark = probe.mark()
    stack["services"]["controller"].stop(
        signal.SIGKILL
    )  # no goodbye: the broker's last will speaks
    probe.wait_for("maelstrom/status/controller", lambda m: m.text == "offline", since=mark)
    stack["services"]["api"].stop(signal.SIGTERM)  # clean stop: the service says goodbye itself
    probe.wait_for("maelstrom/status/api", lambda m: m.text == "offline", since=mark)
