"""The recorder against a real broker: what is published is what the REST API gives back."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from tests.history.conftest import Api, loop_state, reading, wait_until
from tests.support.probe import MqttProbe


async def test_loop_state_and_sensor_readings_become_series(api: Api, probe: MqttProbe) -> None:
    t0 = round(time.time()) - 100.0
    for i in range(10):
        probe.publish(
            "maelstrom/data/fermenter",
            loop_state("fermenter", t0 + i, pv=18.0 + i / 16, sp=18.0, cool=10.0 * i),
            retain=True,
        )
        probe.publish(
            "maelstrom/data/sensors/ispindel/gravity", reading(1.050 - i / 1000, t0 + i, "SG")
        )
    await api.received(10 * (4 + 4 + 1))  # 4 samples and 4 events per state, 1 reading

    series = await api.series()
    assert set(series) >= {
        "loop/fermenter/pv",
        "loop/fermenter/sp",
        "loop/fermenter/heat",
        "loop/fermenter/cool",
        "sensor/ispindel/gravity",
    }
    assert series["sensor/ispindel/gravity"]["unit"] == "SG"
    assert series["loop/fermenter/pv"]["unit"] == "°C"
    assert series["loop/fermenter/cool"]["unit"] == "%"
    assert series["loop/fermenter/pv"]["count"] == 10
    assert (
        series["loop/fermenter/pv"]["first"] == t0 and series["loop/fermenter/pv"]["last"] == t0 + 9
    )

    status, body = await api.get(
        "/api/history", series="loop/fermenter/pv,sensor/ispindel/gravity", from_=t0, to=t0 + 20
    )
    assert status == 200, body
    pv, gravity = body["series"]
    assert pv["bucket_s"] == 0
    assert pv["t"] == [t0 + i for i in range(10)]
    assert pv["avg"] == [18.0 + i / 16 for i in range(10)]
    assert gravity["avg"] == [1.050 - i / 1000 for i in range(10)]

    status, body = await api.get("/api/history/events", loop="fermenter", from_=t0 - 1, to=t0 + 20)
    assert [(e["kind"], e["value"]) for e in body["events"]] == [
        ("mode", "constant"),
        ("state", "idle"),
        ("profile", None),
        ("step", None),
    ]


async def test_step_changes_of_a_running_profile_become_step_events(
    api: Api, probe: MqttProbe
) -> None:
    """Every profile's step changes are kept, so a chart of any past range can mark them."""
    t0 = round(time.time()) - 100.0

    def running(ts: float, step: int, name: str | None = None, finished: bool = False) -> Any:
        state = loop_state("kettle", ts, pv=60.0, mode="profile")
        state["profile"] = {
            "profile": "mash",
            "step": step,
            "steps": 3,
            "elapsed_s": ts - t0,
            "remaining_s": 100.0,
            "step_name": name,
            "finished": finished,
        }
        return state

    states = [
        running(t0, 0),
        running(t0 + 1, 0),  # the same step: nothing new
        running(t0 + 2, 1),
        running(t0 + 3, 2, "Mash out"),
        running(t0 + 4, 2, finished=True),
    ]
    for state in states:
        probe.publish("maelstrom/data/kettle", state, retain=True)
    await api.received(len(states) * 8)

    status, body = await api.get(
        "/api/history/events", loop="kettle", kind="step", from_=t0 - 1, to=t0 + 10
    )
    assert status == 200, body
    assert [(e["ts"], e["value"]) for e in body["events"]] == [
        (t0, "1"),
        (t0 + 2, "2"),
        (t0 + 3, "3 Mash out"),
        (t0 + 4, None),
    ]


async def test_alarm_lifecycle_on_mqtt_becomes_alarm_history(api: Api, probe: MqttProbe) -> None:
    topic = "maelstrom/alarms/pilot-light"
    t0 = round(time.time()) - 60
    raised = {"message": "Pilot light out", "severity": "high", "raised_at": t0, "ts": t0}
    acked = {**raised, "acknowledged": True, "acknowledged_by": "brewer", "acknowledged_at": t0 + 5}
    cleared = {**acked, "state": "cleared", "cleared_at": t0 + 9}
    for payload in (raised, raised, acked, cleared):
        probe.publish(topic, payload, retain=True)
    probe.publish(topic, b"", retain=True)  # removed: acknowledged and cleared
    probe.publish(topic + "/ack", {"by": "brewer"})  # a command, not a record
    await api.received(5)

    status, body = await api.get("/api/history/alarms", from_=t0)
    assert status == 200, body
    events = [(a["event"], a["id"], a["state"]) for a in reversed(body["alarms"])]
    assert events == [
        ("raised", "pilot-light", "active"),
        ("acknowledged", "pilot-light", "active"),
        ("cleared", "pilot-light", "cleared"),
        ("removed", "pilot-light", "cleared"),
    ]
    status, body = await api.get("/api/history/alarms", from_=t0, event="acknowledged")
    assert [a["acknowledged_by"] for a in body["alarms"]] == ["brewer"]
    status, body = await api.get("/api/history/alarms", from_=t0, state="active")
    assert {a["event"] for a in body["alarms"]} == {"raised", "acknowledged"}


async def test_logs_are_kept_and_filtered_by_level_and_source(api: Api, probe: MqttProbe) -> None:
    probe.publish(
        "maelstrom/logs/controller",
        {"level": "warning", "message": "sensor slow", "source": "controller"},
    )
    probe.publish(
        "maelstrom/logs/controller",
        {"level": "error", "message": "board offline", "source": "controller"},
    )
    probe.publish(
        "maelstrom/logs/ui", {"level": "info", "message": "hello from the shell"}
    )  # no ts, no source
    await api.received(3)

    status, body = await api.get("/api/logs", level="warning")
    assert status == 200, body
    assert [(r["level"], r["message"]) for r in body["logs"]] == [
        ("error", "board offline"),
        ("warning", "sensor slow"),
    ]
    status, body = await api.get("/api/logs", source="ui")
    assert [(r["level"], r["source"], r["message"]) for r in body["logs"]] == [
        ("info", "ui", "hello from the shell")
    ]
    assert abs(body["logs"][0]["ts"] - time.time()) < 60  # stamped on arrival


async def test_malformed_messages_are_logged_and_dropped_and_recording_goes_on(
    api: Api, probe: MqttProbe
) -> None:
    t0 = round(time.time())
    probe.publish("maelstrom/data/fermenter", b"not json")
    probe.publish("maelstrom/data/fermenter", {"pv": "warm", "ts": t0})
    probe.publish("maelstrom/data/sensors/sim/beer", {"value": 20.5})  # no ts
    probe.publish("maelstrom/alarms/x", {"severity": "high"})  # no message
    probe.publish("maelstrom/logs/ui", b"\xff\xfe")
    probe.publish("maelstrom/data/sensors/sim/beer", reading(20.5, t0))
    # The dropped ones are reported on the logs channel (and recorded there too).
    probe.subscribe("maelstrom/logs/api")
    await asyncio.to_thread(
        probe.wait_for, "maelstrom/logs/api", lambda m: "maelstrom/logs/ui" in m.text
    )
    await api.received(1)
    series = await api.series()
    assert series["sensor/sim/beer"]["count"] == 1
    assert list(series) == ["sensor/sim/beer"]


async def test_retention_settings_follow_the_history_setting(api: Api, probe: MqttProbe) -> None:
    """The Config API publishes the `history` setting's bare JSON value, retained."""
    topic = "maelstrom/config/settings/history"

    def settings() -> dict:
        return api.recorder.status()["settings"]

    probe.publish(topic, {"raw_days": 30, "heartbeat_s": 120}, retain=True)
    probe.publish("maelstrom/config/settings/ui", {"theme": "dark"}, retain=True)  # not ours
    await wait_until(lambda: settings()["raw_days"] == 30 and settings()["heartbeat_s"] == 120)
    status, body = await api.get("/api/history/status")
    assert status == 200
    assert status == 200
    assert body["subscribed"] and body["settings"]["rollup_days"] == 0

    probe.subscribe("maelstrom/logs/api")
    for refused in ({"raw_days": -3}, {"retention_days": 365}, [30], b"thirty"):
        mark = probe.mark()
        probe.publish(topic, refused, retain=True)
        await asyncio.to_thread(
            probe.wait_for, "maelstrom/logs/api", lambda m: "history setting" in m.text, since=mark
        )
        assert settings()["raw_days"] == 30  # the previous settings stay
    probe.publish(topic, b"", retain=True)  # deleted: the defaults
    await wait_until(lambda: settings()["raw_days"] == 14 and settings()["heartbeat_s"] == 60)


async def test_program_events_become_chart_annotations(api: Api, probe: MqttProbe) -> None:
    t0 = round(time.time())
    probe.publish(
        "maelstrom/events/kettle",
        {
            "loop": "kettle",
            "profile": "mash",
            "kind": "waiting",
            "step": 0,
            "name": "Strike water",
            "text": "Strike water: Add the grain, then confirm",
            "confirm": "Add the grain, then confirm",
            "ts": t0,
        },
    )
    probe.publish("maelstrom/events/kettle", b"not json")  # logged and dropped

    async def noted() -> list[dict[str, Any]]:
        status, body = await api.get("/api/history/annotations", from_=t0 - 1, loop="kettle")
        assert status == 200, body
        return body["annotations"]

    for _ in range(200):
        if await noted():
            break
        await asyncio.sleep(0.02)
    (note,) = await noted()
    assert (note["ts"], note["text"], note["loop"]) == (
        t0,
        "Strike water: Add the grain, then confirm",
        "kettle",
    )


async def test_a_flood_of_log_lines_is_stored_as_a_burst_and_a_count(
    api: Api, probe: MqttProbe
) -> None:
    """Anyone allowed to publish on logs/… must not be able to fill the disk."""
    for i in range(2_000):
        probe.client.publish(
            "maelstrom/logs/ui", json.dumps({"level": "error", "message": f"x{i}"})
        )
    before = api.recorder.received
    probe.publish("maelstrom/logs/sentinel", {"level": "error", "message": "after the flood"})
    await api.recorder.flush()
    # Same connection, same subscription: the sentinel comes after the whole flood.
    status, body = await api.get("/api/logs", source="sentinel")
    while not body["logs"]:
        await wait_until(lambda: api.recorder.received > before, 10)
        await api.recorder.flush()
        status, body = await api.get("/api/logs", source="sentinel")
    status, body = await api.get("/api/logs", source="ui", limit=5000)
    assert status == 200, body
    assert [r["message"] for r in body["logs"]][::-1] == [f"x{i}" for i in range(20)]


async def test_an_impossible_time_is_refused_and_recording_goes_on(
    api: Api, probe: MqttProbe
) -> None:
    """`"ts": 1e308` cannot become milliseconds: kept in a batch it failed every write."""
    t0 = round(time.time())
    probe.publish("maelstrom/data/sensors/sim/beer", {"value": 20.0, "ts": 1e308})
    probe.publish("maelstrom/data/sensors/sim/beer", {"value": 20.0, "ts": -1})
    probe.publish("maelstrom/logs/ui", {"level": "error", "message": "late", "ts": 1e308})
    probe.publish("maelstrom/data/sensors/sim/beer", reading(20.5, t0))
    await api.received(1)
    series = await api.series()
    assert series["sensor/sim/beer"]["count"] == 1
    status, body = await api.get("/api/history/status")
    assert status == 200
    assert body["write_failures"] == 0 and body["dropped"] == 0, body
