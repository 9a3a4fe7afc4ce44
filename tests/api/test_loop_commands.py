"""Loop commands through their one owner, the controller: over MQTT (mosquitto_pub,
Home Assistant) and REST, with a real broker, a real API and a real controller."""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from services.api.commands import LOOP_COMMANDS
from services.common.config import Config
from services.controller.app import Controller, running_controller
from services.controller.options import Options
from tests.api.conftest import ALE, FERMENTER_DEVICE, FERMENTER_LOOP, create
from tests.support.broker import Broker, mosquitto_client
from tests.support.probe import MqttProbe, received
from tests.support.waiting import eventually

SIM_DEVICE = FERMENTER_DEVICE
LOOP: dict[str, Any] = {**FERMENTER_LOOP, "name": "", "setpoint": 17.5}


def mosquitto_pub(broker: Broker, topic: str, *messages: str) -> None:
    """One mosquitto_pub per message, as a brewer at a shell would send them."""
    for message in messages:
        subprocess.run(
            [
                mosquitto_client("mosquitto_pub"),
                "-p",
                str(broker.port),
                "-t",
                topic,
                "-m",
                message,
                "-q",
                "1",
            ],
            check=True,
            timeout=10,
        )


@contextlib.asynccontextmanager
async def controller_for(config: Config, state: Path) -> AsyncIterator[Controller]:
    async with running_controller(config, Options(state_path=str(state))) as controller:
        assert await controller.mqtt.wait_connected(10)
        yield controller


@pytest.fixture
async def fermenter(api: TestClient, config: Config, tmp_path: Path) -> AsyncIterator[Controller]:
    await create(api, "devices", SIM_DEVICE)
    await create(api, "loops", LOOP)
    async with controller_for(config, tmp_path / "controller.json") as controller:
        yield controller


async def loop_running(probe: MqttProbe, loop_id: str = "fv1") -> None:
    probe.subscribe(f"maelstrom/data/{loop_id}")
    await received(probe, f"maelstrom/data/{loop_id}", lambda m: m.json()["pv"] is not None)


def setpoints(probe: MqttProbe, since: int) -> list[float]:
    """Each distinct target revision's setpoint, as maelstrom/data/fv1 showed it."""
    seen: dict[int, float] = {}
    for msg in probe.messages[since:]:
        if msg.topic == "maelstrom/data/fv1":
            state = msg.json()
            seen.setdefault(state["revision"], state["sp"])
    return [seen[r] for r in sorted(seen)]


async def test_a_burst_of_mqtt_setpoints_is_applied_once_each_in_order(
    api: TestClient, fermenter: Controller, broker: Broker, probe: MqttProbe
) -> None:
    await loop_running(probe)
    probe.subscribe("maelstrom/config/#").subscribe("maelstrom/target/fv1")
    mark = probe.mark()
    mosquitto_pub(broker, "maelstrom/cmd/loops/fv1/setpoint", "18.5", "19.5", "20.5")
    await received(
        probe, "maelstrom/data/fv1", lambda m: m.json()["sp"] == 20.5, since=mark, timeout=5
    )
    target = await received(
        probe, "maelstrom/target/fv1", lambda m: m.json()["setpoint"] == 20.5, since=mark
    )
    # Give a replay every chance to show itself: the API must have stored the target.
    resp = await api.get("/api/loops/fv1")
    loop = await resp.json()
    assert (loop["setpoint"], loop["target_revision"]) == (20.5, target.json()["revision"])
    sps = [m.json()["sp"] for m in probe.messages[mark:] if m.topic == "maelstrom/data/fv1"]
    assert [sp for i, sp in enumerate(sps) if i == 0 or sps[i - 1] != sp] == [18.5, 19.5, 20.5]
    assert loop["version"] == 1  # a command is not configuration
    assert not [m for m in probe.messages[mark:] if m.topic.startswith("maelstrom/config/")]


async def test_rest_commands_answer_with_the_controllers_target(
    api: TestClient, fermenter: Controller, probe: MqttProbe
) -> None:
    await loop_running(probe)
    resp = await api.post("/api/loops/fv1/setpoint", data="21.25")
    body = await resp.json()
    assert resp.status == 200, body
    assert body["setpoint"] == 21.25 and body["target_revision"] >= 1
    assert fermenter.targets.get("fv1").setpoint == 21.25  # type: ignore[union-attr]

    resp = await api.post("/api/loops/fv1/setpoint", json={"value": 80})
    body = await resp.json()
    assert resp.status == 409, body
    assert "outside 0..30" in body["detail"]["message"]

    resp = await api.post("/api/loops/fv1/mode", data="profile")  # no profile started
    assert resp.status == 409
    assert "start a profile first" in (await resp.json())["detail"]["message"]

    resp = await api.post("/api/loops/fv1/setpoint", data="warm")
    assert resp.status == 422  # answered by the API at once, never sent

    resp = await api.get("/api/loops/fv1")
    assert (await resp.json())["setpoint"] == 21.25


async def test_a_refused_command_is_logged_once_with_the_loop_and_reason(
    api: TestClient, fermenter: Controller, broker: Broker, probe: MqttProbe
) -> None:
    await loop_running(probe)
    probe.subscribe("maelstrom/logs/#")
    mark = probe.mark()
    mosquitto_pub(broker, "maelstrom/cmd/loops/fv1/setpoint", "80")
    await received(
        probe, "maelstrom/logs/controller", lambda m: "outside" in m.json()["message"], since=mark
    )
    mosquitto_pub(broker, "maelstrom/cmd/loops/fv1/setpoint", "19")  # a marker after it
    await received(probe, "maelstrom/data/fv1", lambda m: m.json()["sp"] == 19, since=mark)
    refusals = [
        m.json()["message"]
        for m in probe.messages[mark:]
        # (API and controller share this process's logging: count the controller's channel)
        if m.topic == "maelstrom/logs/controller" and "outside" in m.json()["message"]
    ]
    assert len(refusals) == 1 and "fv1" in refusals[0], refusals


async def test_a_rest_command_no_controller_answers_is_a_504(
    api: TestClient, config: Config
) -> None:
    api.app[LOOP_COMMANDS].timeout_s = 0.5  # type: ignore[index]
    await create(api, "devices", SIM_DEVICE)
    await create(api, "loops", LOOP)
    resp = await api.post("/api/loops/fv1/setpoint", data="19")
    body = await resp.json()
    assert resp.status == 504, body
    assert "fv1" in body["error"]
    assert (await api.post("/api/loops/ghost/setpoint", data="19")).status == 404


async def test_a_command_while_the_api_is_down_reaches_its_database(
    config: Config, broker: Broker, probe: MqttProbe, tmp_path: Path
) -> None:
    from tests.api.conftest import start_api

    api = await start_api(config)
    await create(api, "devices", SIM_DEVICE)
    await create(api, "loops", LOOP)
    state = tmp_path / "controller.json"
    async with controller_for(config, state):
        await loop_running(probe)
        await api.close()  # the API goes away; Home Assistant sets 16.0
        mark = probe.mark()
        mosquitto_pub(broker, "maelstrom/cmd/loops/fv1/setpoint", "16.0")
        await received(probe, "maelstrom/data/fv1", lambda m: m.json()["sp"] == 16.0, since=mark)
        api = await start_api(config)
        try:

            async def stored() -> bool:
                loop = await (await api.get("/api/loops/fv1")).json()
                return bool(loop["setpoint"] == 16.0)

            await eventually(stored, 5, "the API's database holds 16.0")
        finally:
            await api.close()
    # and a controller restart keeps it (its own disk), API up or not
    mark = probe.mark()
    async with controller_for(config, state):
        msg = await received(
            probe, "maelstrom/data/fv1", lambda m: m.json()["pv"] is not None, since=mark
        )
        assert msg.json()["sp"] == 16.0


async def test_restore_target_command_sets_the_whole_target(
    api: TestClient, fermenter: Controller, probe: MqttProbe
) -> None:
    await loop_running(probe)
    resp = await api.post(
        "/api/loops/fv1/target", json={"mode": "manual", "setpoint": 12, "manual_output": -40}
    )
    body = await resp.json()
    assert resp.status == 200, body
    assert (body["mode"], body["setpoint"], body["manual_output"]) == ("manual", 12, -40)


async def test_a_config_edit_keeps_the_target_and_does_not_conflict_with_commands(
    api: TestClient, fermenter: Controller, probe: MqttProbe
) -> None:
    await loop_running(probe)
    read = await (await api.get("/api/loops/fv1")).json()
    assert (await api.post("/api/loops/fv1/setpoint", data="22")).status == 200
    edited = {**read, "name": "Fermenter one"}  # the editor's stale copy says 17.5
    resp = await api.put("/api/loops/fv1", json=edited)
    body = await resp.json()
    assert resp.status == 200, body
    assert (body["name"], body["setpoint"]) == ("Fermenter one", 22)
    resp = await api.patch("/api/loops/fv1", json={"setpoint": 5})
    assert resp.status == 422
    assert "POST /api/loops/fv1/setpoint" in json.dumps(await resp.json())


async def test_rest_commands_match_mqtt_semantics(
    api: TestClient, fermenter: Controller, probe: MqttProbe
) -> None:
    await loop_running(probe)
    await create(api, "profiles", ALE)
    resp = await api.post("/api/loops/fv1/setpoint", data="20.5")
    body = await resp.json()
    assert resp.status == 200, body
    assert body["setpoint"] == 20.5 and body["version"] == 1  # configuration unchanged
    revision = body["target_revision"]

    resp = await api.post("/api/loops/fv1/setpoint", json={"value": 21})
    assert (await resp.json())["setpoint"] == 21

    resp = await api.post("/api/loops/fv1/mode", data="off")
    assert (await resp.json())["mode"] == "off"

    before = time.time()
    resp = await api.post(
        "/api/loops/fv1/profile", json={"action": "start", "profile": "ale", "offset": 3600}
    )
    body = await resp.json()
    assert resp.status == 200, body
    assert body["mode"] == "profile" and body["profile"]["profile"] == "ale"
    assert before - 3600 - 1 <= body["profile"]["started_at"] <= time.time() - 3600 + 1

    resp = await api.post("/api/loops/fv1/profile", data="pause")
    assert (await resp.json())["profile"]["paused_at"] is not None
    resp = await api.post("/api/loops/fv1/profile", data="resume")
    assert (await resp.json())["profile"]["paused_at"] is None

    resp = await api.post("/api/loops/fv1/profile", data="stop")
    body = await resp.json()
    assert body["mode"] == "constant" and body["profile"] is None
    assert 18.0 <= body["setpoint"] <= 18.2  # an hour into 18 → 20 over a day

    assert body["target_revision"] == revision + 6  # one per command that changed something
    resp = await api.get("/api/loops/fv1")
    assert (await resp.json()) == body


BAD_COMMANDS = [
    # answered by the API (422): not a command at all
    ("setpoint", "hot", 422),
    ("setpoint", "NaN", 422),
    ("setpoint", "", 422),
    ("mode", "turbo", 422),
    ("output", "150", 422),
    ("profile", '{"action": "start", "profile": "ale", "offset": 1e400}', 422),
    ("profile", '{"action": "warp"}', 422),
    # refused by the controller (409, with its reason): a command this loop cannot take
    ("setpoint", "99", 409),  # above setpoint_max 30
    ("mode", "profile", 409),  # no profile started
    ("profile", "pause", 409),  # nothing running
    ("profile", '{"action": "start", "profile": "lager"}', 409),
    ("profile", '{"action": "start"}', 409),
]


async def test_bad_rest_commands_are_refused_and_change_nothing(
    api: TestClient, fermenter: Controller, probe: MqttProbe
) -> None:
    await loop_running(probe)
    before = await (await api.get("/api/loops/fv1")).json()
    for command, payload, status in BAD_COMMANDS:
        resp = await api.post(f"/api/loops/fv1/{command}", data=payload.encode())
        body = await resp.json()
        assert resp.status == status, (command, payload, body)
        if status == 422:
            assert body["detail"]["field"] == command
        else:
            assert body["detail"]["message"], body
    assert await (await api.get("/api/loops/fv1")).json() == before
