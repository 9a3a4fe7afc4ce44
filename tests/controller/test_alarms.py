"""Alarms over a real broker: the ISA-18.2 lifecycle, acknowledgement over MQTT,
adoption of alarms raised by anyone, and a restart that loses nothing."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator

import pytest

from services.common.clock import RealClock
from services.common.config import Config
from services.common.mqtt import MqttClient
from services.common.schema.config import Severity
from services.controller.alarms import AlarmManager
from tests.controller.support import eventually
from tests.support.broker import Broker
from tests.support.probe import MqttProbe, Received, received


@contextlib.asynccontextmanager
async def alarm_manager(config: Config) -> AsyncIterator[AlarmManager]:
    async with MqttClient(config, "controller") as mqtt:
        manager = AlarmManager(mqtt, RealClock())
        manager.start()
        assert await mqtt.wait_subscribed(mqtt.topics.all_alarms)
        assert await mqtt.wait_subscribed(mqtt.topics.all_alarm_acks)
        yield manager


def record(predicate):  # type: ignore[no-untyped-def]
    return lambda m: bool(m.payload) and predicate(json.loads(m.payload))


def removed(m: Received) -> bool:
    return m.payload == b""


def retained_now(broker: Broker, topic: str) -> bytes | None:
    """What a client subscribing now would get (None: nothing retained)."""
    fresh = MqttProbe(broker.port)
    try:
        fresh.subscribe(topic)
        try:
            return fresh.wait_for(topic, timeout=0.5).payload
        except TimeoutError:
            return None
    finally:
        fresh.close()


async def test_raise_acknowledge_clear(config: Config, probe: MqttProbe, broker: Broker) -> None:
    probe.subscribe("maelstrom/alarms/#")
    async with alarm_manager(config) as alarms:
        alarms.condition(
            "fermenter-high",
            True,
            "Fermenter: 25.0 °C",
            kind="high",
            severity=Severity.high,
            source="fermenter",
        )
        raised = await received(probe, "maelstrom/alarms/fermenter-high", record(lambda a: True))
        first = json.loads(raised.payload)
        assert first["state"] == "active" and not first["acknowledged"]
        assert first["raised_at"] > 0 and first["source"] == "fermenter"
        assert alarms.active_for("fermenter") == ("fermenter-high",)

        mark = probe.mark()
        probe.publish("maelstrom/alarms/fermenter-high/ack", {"by": "brewer"})
        acked = await received(
            probe, "maelstrom/alarms/fermenter-high", record(lambda a: a["acknowledged"]), mark
        )
        assert json.loads(acked.payload)["acknowledged_by"] == "brewer"

        mark = probe.mark()
        alarms.condition("fermenter-high", False)  # the condition clears: acked, so removed
        await received(probe, "maelstrom/alarms/fermenter-high", removed, mark)
        assert retained_now(broker, "maelstrom/alarms/fermenter-high") is None


async def test_a_cleared_alarm_stays_until_acknowledged(
    config: Config, probe: MqttProbe, broker: Broker
) -> None:
    probe.subscribe("maelstrom/alarms/#")
    async with alarm_manager(config) as alarms:
        alarms.condition(
            "kettle-sensor", True, "Kettle: sensor lost", kind="sensor", source="kettle"
        )
        alarms.condition("kettle-sensor", False)
        cleared = await received(
            probe, "maelstrom/alarms/kettle-sensor", record(lambda a: a["state"] == "cleared")
        )
        assert not json.loads(cleared.payload)["acknowledged"]
        assert (
            json.loads(retained_now(broker, "maelstrom/alarms/kettle-sensor") or b"{}")["state"]
            == "cleared"
        )
        mark = probe.mark()
        probe.publish("maelstrom/alarms/kettle-sensor/ack", b"")  # an empty ack works too
        await received(probe, "maelstrom/alarms/kettle-sensor", removed, mark)


async def test_an_alarm_raised_by_anyone_is_adopted_without_echo_loops(
    config: Config, probe: MqttProbe, broker: Broker
) -> None:
    probe.subscribe("maelstrom/alarms/#")
    async with alarm_manager(config) as alarms:
        # the web UI's "Generate Alarm"
        probe.publish(
            "maelstrom/alarms/test-1",
            {"message": "Test alarm", "kind": "test", "severity": "low"},
        )
        adopted = await received(
            probe, "maelstrom/alarms/test-1", record(lambda a: "raised_at" in a)
        )
        full = json.loads(adopted.payload)
        assert full["state"] == "active" and full["raised_at"] > 0 and full["ts"] > 0
        assert full["severity"] == "low" and full["kind"] == "test"
        assert adopted.retain is False  # live delivery; it is retained on the broker:
        assert json.loads(retained_now(broker, "maelstrom/alarms/test-1") or b"{}") == full

        # its raiser clears it; nobody acknowledged it, so it stays, cleared
        mark = probe.mark()
        probe.publish("maelstrom/alarms/test-1", {"message": "Test alarm", "state": "cleared"})
        await received(
            probe, "maelstrom/alarms/test-1", record(lambda a: a.get("cleared_at")), mark
        )
        probe.publish("maelstrom/alarms/test-1/ack", {"by": "ui"})
        await received(probe, "maelstrom/alarms/test-1", removed, mark)
        assert "test-1" not in alarms.records

        # A sentinel alarm raised after all that: once it is adopted, anything the
        # controller published before it has arrived. Nothing may have looped.
        probe.publish("maelstrom/alarms/sentinel", {"message": "sentinel"})
        await received(probe, "maelstrom/alarms/sentinel", record(lambda a: "raised_at" in a))
        on_topic = [m for m in probe.messages if m.topic == "maelstrom/alarms/test-1"]
        assert len(on_topic) == 6  # raised, adopted, clear, cleared, final record, removed
        final = json.loads(on_topic[-2].payload)
        assert (final["state"], final["acknowledged_by"]) == ("cleared", "ui")
        assert on_topic[-2].retain is False
        assert sum(1 for m in on_topic if m.payload == b"") == 1


async def test_bad_payloads_and_unknown_acks_are_logged_and_dropped(
    config: Config, probe: MqttProbe, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    probe.subscribe("maelstrom/alarms/#")
    async with alarm_manager(config) as alarms:
        probe.publish("maelstrom/alarms/broken", "not json")
        probe.publish("maelstrom/alarms/nameless", {"severity": "high"})
        probe.publish("maelstrom/alarms/nobody/ack", {"by": "brewer"})
        probe.publish("maelstrom/alarms/BAD%20ID", {"message": "not an id"})
        probe.publish("maelstrom/alarms/sentinel", {"message": "sentinel"})
        await received(probe, "maelstrom/alarms/sentinel", record(lambda a: "raised_at" in a))
        await eventually(lambda: "unknown alarm 'nobody'" in caplog.text)
        assert "dropped alarm on maelstrom/alarms/broken" in caplog.text
        assert "dropped alarm on maelstrom/alarms/nameless: message" in caplog.text
        assert "dropped alarm on maelstrom/alarms/BAD%20ID: the id" in caplog.text
        assert set(alarms.records) == {"sentinel"}


async def test_a_restart_rebuilds_the_alarms_from_the_broker(
    config: Config, probe: MqttProbe
) -> None:
    probe.subscribe("maelstrom/alarms/#")
    async with alarm_manager(config) as alarms:
        alarms.condition(
            "fermenter-sensor", True, "Fermenter: sensor lost", kind="sensor", source="fermenter"
        )
        probe.publish("maelstrom/alarms/pilot", {"message": "Pilot light out"})
        await received(probe, "maelstrom/alarms/pilot", record(lambda a: "raised_at" in a))
        await received(probe, "maelstrom/alarms/fermenter-sensor", record(lambda a: True))
        before = dict(alarms.records)

    async with alarm_manager(config) as alarms:
        await eventually(lambda: set(alarms.records) == {"pilot", "fermenter-sensor"})
        assert alarms.records == before  # the same records, raise times included
        mark = probe.mark()
        alarms.condition("fermenter-sensor", False)  # the sensor is fine after the restart
        await received(
            probe,
            "maelstrom/alarms/fermenter-sensor",
            record(lambda a: a["state"] == "cleared"),
            mark,
        )
        probe.publish("maelstrom/alarms/pilot/ack", {"by": "brewer"})
        await received(probe, "maelstrom/alarms/pilot", record(lambda a: a["acknowledged"]), mark)
