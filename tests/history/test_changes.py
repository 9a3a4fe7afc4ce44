"""Who changed what, beside the alarms: `GET /api/history/changes` from the targets the
controller publishes (every command path ends there) and the REST audit."""

from __future__ import annotations

import time

from services.common.schema.target import LoopTarget
from tests.history.conftest import Api
from tests.support.probe import MqttProbe
from tests.support.waiting import eventually


def target(revision: int, by: str | None, ts: float, **fields: object) -> bytes:
    payload = LoopTarget(loop="fermenter", revision=revision, changed_by=by, ts=ts, **fields)
    return payload.model_dump_json().encode()


async def changes(api: Api, **params: object) -> list[dict[str, object]]:
    status, body = await api.get("/api/history/changes", **params)
    assert status == 200, body
    return body["changes"]


async def test_commands_and_configuration_name_their_author(api: Api, probe: MqttProbe) -> None:
    now = time.time()
    topic = "maelstrom/target/fermenter"
    probe.publish(topic, target(1, None, 0, mode="constant", setpoint=18.0), retain=True)
    probe.publish(topic, target(2, "anna", now - 60, mode="constant", setpoint=12.0), retain=True)
    probe.publish(topic, target(2, "anna", now - 60, mode="constant", setpoint=12.0), retain=True)
    probe.publish(topic, target(3, "ha-client", now - 30, mode="off", setpoint=12.0), retain=True)
    probe.publish(topic, target(4, "program", now - 20, mode="off", setpoint=12.5), retain=True)

    async def two() -> list[dict[str, object]] | None:
        found = await changes(api, loop="fermenter", from_=now - 3600)
        return found if len(found) >= 2 else None

    found = await eventually(two, what="two changes recorded")
    assert [(c["who"], c["what"], c["kind"]) for c in found] == [
        ("anna", "setpoint 18 → 12 °C", "command"),
        ("ha-client", "mode constant → off", "command"),
    ]  # once each; the program's own step is no one's change
    assert found[0]["from"] == 18.0 and found[0]["to"] == 12.0

    # a configuration change through REST, from the audit, on the loop's timeline too
    async with api.client.put("/api/settings/units", json={"value": "metric"}) as resp:
        assert resp.status < 400, await resp.text()
    everything = await changes(api, from_=now - 3600)
    assert everything[-1]["kind"] == "configuration"
    assert everything[-1]["what"] == "setting units changed"
    assert (await changes(api, loop="other", from_=now - 3600))[-1]["what"] == everything[-1][
        "what"
    ]
