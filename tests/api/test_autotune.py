"""The autotune command's round trip: REST and mosquitto_pub to the loop's controller,
which alone runs it, and back as the loop's live state (real API, broker, controller
and simulated fermenter, in real time)."""

from __future__ import annotations

import json
from typing import Any

from aiohttp.test_utils import TestClient

from services.controller.app import Controller
from tests.api.test_loop_commands import mosquitto_pub
from tests.support.broker import Broker
from tests.support.probe import MqttProbe, received

DATA = "maelstrom/data/fv1"


def autotune(phase: str) -> Any:
    def seen(m: Any) -> bool:
        run = json.loads(m.payload).get("autotune") if m.payload else None
        return run is not None and run["phase"] == phase

    return seen


async def test_autotune_starts_over_rest_shows_on_the_state_and_aborts_over_mqtt(
    api: TestClient, controlled: Controller, broker: Broker, probe: MqttProbe
) -> None:
    probe.subscribe(DATA)
    live = await received(probe, DATA, lambda m: bool(m.payload) and m.json()["pv"] is not None)
    here = round(live.json()["pv"], 1)  # hold where the beer is: the relay oscillates around it
    resp = await api.post("/api/loops/fv1/setpoint", json={"value": here})
    assert resp.status == 200, await resp.text()

    mark = probe.mark()
    resp = await api.post("/api/loops/fv1/autotune", json={"action": "start", "output": "cool"})
    assert resp.status == 200, await resp.text()
    running = await received(probe, DATA, autotune("running"), since=mark)
    run = running.json()["autotune"]
    assert run["output"] == "cool" and run["cycles_needed"] == 4 and run["proposal"] is None

    resp = await api.post("/api/loops/fv1/autotune", data="start")  # one run at a time
    body = await resp.json()
    assert resp.status == 409 and "already going" in body["detail"]["message"]
    resp = await api.post("/api/loops/fv1/autotune", json={"action": "start", "step_pct": 500})
    body = await resp.json()
    assert resp.status == 422 and body["detail"]["field"] == "autotune"

    mark = probe.mark()
    mosquitto_pub(broker, "maelstrom/cmd/loops/fv1/autotune", "abort")
    aborted = await received(probe, DATA, autotune("aborted"), since=mark)
    state = aborted.json()
    assert state["autotune"]["reason"] == "aborted by mqtt"
    assert state["mode"] == "constant" and state["sp"] == here  # the target never changed

    resp = await api.post("/api/loops/fv1/autotune", data="discard")
    body = await resp.json()
    assert resp.status == 409 and "no proposal" in body["detail"]["message"]
