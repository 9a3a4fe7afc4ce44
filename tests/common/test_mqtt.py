"""The shared MQTT client against a real Mosquitto: birth, will, order, reconnect."""

from __future__ import annotations

import asyncio
import itertools
import logging

import pytest

from services.common.config import Config
from services.common.mqtt import Message, MqttClient
from tests.support.broker import Broker
from tests.support.probe import MqttProbe


async def wait_until(predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    async def poll() -> None:
        while not predicate():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(poll(), timeout)


async def test_birth_and_clean_stop_announce_status(config: Config, probe: MqttProbe) -> None:
    probe.subscribe("maelstrom/status/#")
    async with MqttClient(config, "tester") as client:
        assert await client.wait_connected(10)
        await asyncio.to_thread(
            probe.wait_for, "maelstrom/status/tester", lambda m: m.text == "online"
        )
    await asyncio.to_thread(
        probe.wait_for, "maelstrom/status/tester", lambda m: m.text == "offline"
    )


async def test_a_second_instance_that_stops_leaves_the_running_one_online(
    config: Config, probe: MqttProbe, broker: Broker
) -> None:
    probe.subscribe("maelstrom/status/tester")
    async with MqttClient(config, "tester") as running:
        assert await running.wait_connected(10)
        second = MqttClient(config, "tester")
        await second.start()
        assert await second.wait_connected(10)
        mark = probe.mark()
        await second.stop()  # says offline, for itself
        await asyncio.to_thread(
            probe.wait_for, "maelstrom/status/tester", lambda m: m.text == "offline", 10, mark
        )
        back = await asyncio.to_thread(
            probe.wait_for, "maelstrom/status/tester", lambda m: m.text == "online", 10, mark
        )
        assert back.text == "online"  # live; and what a newcomer is handed:
        fresh = MqttProbe(broker.port)
        try:
            fresh.subscribe("maelstrom/status/tester")
            assert fresh.wait_for("maelstrom/status/tester", timeout=5).text == "online"
        finally:
            fresh.close()


async def test_messages_arrive_in_order_once_despite_overlapping_filters(
    config: Config, probe: MqttProbe
) -> None:
    got: list[str] = []
    async with MqttClient(config, "tester") as client:
        client.subscribe("maelstrom/data/#", lambda m: got.append(f"all:{m.text}"))
        client.subscribe("maelstrom/data/+", lambda m: got.append(f"one:{m.text}"))
        assert await client.wait_subscribed("maelstrom/data/#")
        assert await client.wait_subscribed("maelstrom/data/+")
        for i in range(50):
            probe.publish("maelstrom/data/f", str(i))
        await wait_until(lambda: len(got) >= 100)
    assert [g for g in got if g.startswith("all:")] == [f"all:{i}" for i in range(50)]
    assert [g for g in got if g.startswith("one:")] == [f"one:{i}" for i in range(50)]


async def test_the_event_loop_driver_handles_each_message_as_it_reads_it(
    config: Config, probe: MqttProbe
) -> None:
    """Issue 13: queued behind the reader (2 000 packets a turn, the dispatcher 64), the
    handlers got almost no turns under load and the bridge delivered 0.3-3 %."""
    read: list[int] = []  # messages read from the socket, each time one is handled
    async with MqttClient(config, "tester", in_loop=True) as client:
        client.subscribe("maelstrom/data/#", lambda m: read.append(client.stats.messages_in), qos=0)
        assert await client.wait_subscribed("maelstrom/data/#")
        burst = [probe.client.publish(f"maelstrom/data/t{i % 10}", "x" * 200) for i in range(3000)]
        await asyncio.to_thread(burst[-1].wait_for_publish, 10)
        await wait_until(lambda: len(read) >= 3000)
        assert client.backlog == 0
    assert {b - a for a, b in itertools.pairwise(read)} == {1}  # read one, handled one


async def test_a_failing_handler_does_not_stop_delivery(config: Config, probe: MqttProbe) -> None:
    got: list[Message] = []

    def broken(message: Message) -> None:
        raise RuntimeError("boom")

    async with MqttClient(config, "tester") as client:
        client.subscribe("maelstrom/cmd/#", broken)
        client.subscribe("maelstrom/cmd/#", got.append)
        assert await client.wait_subscribed("maelstrom/cmd/#")
        probe.publish("maelstrom/cmd/loops/f/setpoint", "20")
        probe.publish("maelstrom/cmd/loops/f/setpoint", "21")
        await wait_until(lambda: len(got) >= 2)
    assert [m.text for m in got] == ["20", "21"]


async def test_reconnects_and_resubscribes_after_broker_restart(
    config: Config, broker: Broker
) -> None:
    got: list[str] = []
    async with MqttClient(config, "tester", reconnect_max_delay=1) as client:
        client.subscribe("maelstrom/cmd/#", lambda m: got.append(m.text))
        assert await client.wait_connected(10)
        broker.stop()
        await asyncio.wait_for(client.disconnected.wait(), 10)
        broker.start()
        assert await client.wait_connected(15)
        assert await client.wait_subscribed("maelstrom/cmd/#", 15)
        probe = MqttProbe(broker.port)
        try:
            probe.publish("maelstrom/cmd/loops/f/mode", "constant")
            await wait_until(lambda: bool(got))
        finally:
            probe.close()
    assert got[0] == "constant"


async def test_retained_messages_delivered_on_subscribe(config: Config, probe: MqttProbe) -> None:
    probe.publish("maelstrom/config/loops/f", '{"id":"f"}', retain=True)
    got: list[Message] = []
    async with MqttClient(config, "tester") as client:
        client.subscribe("maelstrom/config/#", got.append)
        await wait_until(lambda: bool(got))
    assert got[0].retain and got[0].json() == {"id": "f"}


async def test_deeply_nested_json_is_dropped_with_one_line_and_no_traceback(
    config: Config, probe: MqttProbe, caplog: pytest.LogCaptureFixture
) -> None:
    """`json.loads` raises RecursionError, not ValueError, on `[[[[…]]]]`."""
    got: list[object] = []
    async with MqttClient(config, "tester") as client:
        client.subscribe("maelstrom/cmd/#", lambda m: got.append(m.json()))
        assert await client.wait_subscribed("maelstrom/cmd/#")
        with caplog.at_level(logging.INFO, logger="services.common.mqtt"):
            probe.publish("maelstrom/cmd/x", b"[" * 200_000 + b"]" * 200_000)
            probe.publish("maelstrom/cmd/x", b'{"ok": 1}')
            await wait_until(lambda: got)
    dropped = [r for r in caplog.records if "maelstrom/cmd/x" in r.getMessage()]
    assert len(dropped) == 1, [r.getMessage() for r in dropped]
    assert dropped[0].exc_info is None and "nested too deeply" in dropped[0].getMessage()
    assert got == [{"ok": 1}]
