"""Kill the API mid-flight and start it again: nothing a brewer saved is lost."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import aiohttp

from tests.api.conftest import ALE, FERMENTER_DEVICE, FERMENTER_LOOP
from tests.support.broker import Broker
from tests.support.ports import free_port, wait_for_port
from tests.support.probe import MqttProbe, received
from tests.support.services import Service, service_env
from tests.support.waiting import eventually


def start(broker: Broker, tmp_path: Path, port: int, name: str) -> Service:
    env = api_env(broker, tmp_path, port)
    service = Service("services.api", env, tmp_path / f"{name}.log")
    wait_for_port(port, timeout=20)
    return service


def api_env(broker: Broker, tmp_path: Path, port: int) -> dict[str, str]:
    return service_env(
        broker.url,
        MAELSTROM_HTTP_HOST="127.0.0.1",
        MAELSTROM_HTTP_PORT=str(port),
        MAELSTROM_DATABASE_URL=f"sqlite:///{tmp_path / 'maelstrom.db'}",
    )


async def snapshot(http: aiohttp.ClientSession, base: str) -> dict[str, Any]:
    out = {}
    for kind in ("settings", "devices", "profiles", "loops"):
        async with http.get(f"{base}/api/{kind}") as resp:
            out[kind] = await resp.json()
    return out


async def test_kill_and_restart_loses_nothing(
    broker: Broker, probe: MqttProbe, tmp_path: Path
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    api = start(broker, tmp_path, port, "first")
    controller = Service(
        "services.controller", api_env(broker, tmp_path, port), tmp_path / "controller.log"
    )
    probe.subscribe("maelstrom/config/#").subscribe("maelstrom/target/#")
    async with aiohttp.ClientSession() as http:
        for kind, body in (
            ("devices", FERMENTER_DEVICE),
            ("profiles", ALE),
            ("loops", FERMENTER_LOOP),
        ):
            async with http.post(f"{base}/api/{kind}", json=body) as resp:
                assert resp.status == 201, await resp.text()
        async with http.put(f"{base}/api/settings/units", json={"value": "C"}) as resp:
            assert resp.status == 201
        await received(probe, "maelstrom/target/fv1", timeout=20)  # the controller runs it
        async with http.post(
            f"{base}/api/loops/fv1/profile", json={"action": "start", "profile": "ale"}
        ) as resp:
            assert resp.status == 200, await resp.text()
        probe.publish("maelstrom/cmd/loops/fv1/setpoint", "21.5")
        await received(probe, "maelstrom/target/fv1", lambda m: m.json()["setpoint"] == 21.5)

        async def mirrored() -> bool:  # the API mirrors the controller's target as it hears it
            async with http.get(f"{base}/api/loops/fv1") as resp:
                return (await resp.json())["setpoint"] == 21.5

        await eventually(mirrored, timeout=10, what="the API mirrors setpoint 21.5")
        before = await snapshot(http, base)

        assert api.stop(signal.SIGKILL) == -signal.SIGKILL
        mark = probe.mark()
        api = start(broker, tmp_path, port, "second")
        try:
            after = await snapshot(http, base)
            assert after == before
            loop = before["loops"][0]
            assert loop["mode"] == "profile" and loop["setpoint"] == 21.5
            msg = await received(probe, "maelstrom/config/loops/fv1", since=mark)
            assert msg.json() == loop  # re-published on start
        finally:
            api.stop()
            controller.stop()
