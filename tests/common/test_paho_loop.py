"""paho driven by the event loop: a backlog on the socket is read a turn at a time."""

from __future__ import annotations

import asyncio

from services.common.config import Config
from services.common.mqtt import Message, MqttClient
from services.common.paho_loop import PACKETS_PER_TURN
from tests.common.test_mqtt import wait_until
from tests.support.probe import MqttProbe


async def test_a_backlog_is_read_one_turn_at_a_time_and_other_tasks_run_in_between(
    config: Config, probe: MqttProbe
) -> None:
    """Issue 13: while data was waiting, every selector wake-up added a read turn beside the
    one already due, so turns piled up (one more per loop iteration), each reading
    PACKETS_PER_TURN packets: everything else in the process waited seconds."""
    handled = 0
    between: list[int] = []  # messages handled between two turns of another task
    async with MqttClient(config, "tester", in_loop=True) as client:

        def count(message: Message) -> None:
            nonlocal handled
            handled += 1

        client.subscribe("maelstrom/data/#", count, qos=0)
        assert await client.wait_subscribed("maelstrom/data/#")
        # The loop is held up while the burst is published: it waits on the socket.
        sent = [probe.client.publish(f"maelstrom/data/t{i % 10}", "x" * 200) for i in range(8000)]
        sent[-1].wait_for_publish(20)

        async def other_task() -> None:
            seen = handled
            while True:
                await asyncio.sleep(0)
                between.append(handled - seen)
                seen = handled

        other = asyncio.create_task(other_task())
        await wait_until(lambda: handled > 0 and between[-20:] == [0] * 20, timeout=20)
        other.cancel()
    assert handled > 2 * PACKETS_PER_TURN  # a real backlog was waiting
    assert max(between) <= 2 * PACKETS_PER_TURN, max(between)
