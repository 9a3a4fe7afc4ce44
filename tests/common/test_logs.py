"""The logs channel cannot be flooded: per source a bounded burst, repeats said once with a count."""

from __future__ import annotations

import asyncio
import json
import logging

from services.common.config import Config
from services.common.logs import Line, LogThrottle, MqttLogHandler
from services.common.mqtt import MqttClient
from tests.support.probe import MqttProbe


def line(message: str, source: str = "api") -> Line:
    return Line(source, "warning", message)


def test_a_repeated_line_is_said_once_then_once_more_with_its_count() -> None:
    throttle = LogThrottle(window_s=10, burst=20)
    said = throttle.offer(line("dropped command"), "dropped command", now=0.0)
    for i in range(57):
        said += throttle.offer(line("dropped command"), "dropped command", now=i * 0.1)
    assert [s.message for s in said] == ["dropped command"]
    assert throttle.flush(now=9.9) == []
    assert [s.message for s in throttle.flush(now=10.0)] == ["dropped command (repeated 57 times)"]
    assert throttle.flush(now=30.0) == [] and not throttle.pending
    # A new window: the line is news again.
    assert throttle.offer(line("dropped command"), "dropped command", now=31.0)


def test_a_source_says_at_most_a_burst_of_different_lines_per_window() -> None:
    throttle = LogThrottle(window_s=10, burst=20)
    said = []
    for i in range(5_000):
        said += throttle.offer(line(f"bad payload {i}"), f"bad payload {i}", now=i / 1000)
    said += throttle.offer(line("from the controller", "controller"), "x", now=5.0)
    assert len([s for s in said if s.source == "api"]) == 20
    assert [s.message for s in said if s.source == "controller"] == ["from the controller"]
    summary = throttle.flush(now=10.0)
    assert [s.message for s in summary] == [
        "4980 more log lines from api dropped (more than 20 different ones in 10 s)"
    ]


def test_made_up_sources_share_one_budget() -> None:
    throttle = LogThrottle(window_s=10, burst=5, max_sources=10)
    said = []
    for i in range(1_000):
        said += throttle.offer(line("spam", f"source-{i}"), "spam", now=0.0)
    assert len(said) == 10 + 1  # ten real sources, then one shared budget's first line


async def test_the_handler_publishes_a_flood_as_two_lines(config: Config, probe: MqttProbe) -> None:
    probe.subscribe("maelstrom/logs/#")
    async with MqttClient(config, "tester") as client:
        assert await client.wait_connected(10)
        handler = MqttLogHandler(client, "tester", throttle=LogThrottle(window_s=0.5))
        logger = logging.getLogger("tests.flood")
        logger.addHandler(handler)
        try:
            for _ in range(100):
                logger.warning("dropped message on %s", "maelstrom/cmd/x")
            await asyncio.to_thread(
                probe.wait_for, "maelstrom/logs/tester", lambda m: "repeated" in m.text
            )
        finally:
            logger.removeHandler(handler)
            handler.close()
    said = [json.loads(m.payload)["message"] for m in probe.messages if m.topic.endswith("tester")]
    assert said == [
        "dropped message on maelstrom/cmd/x",
        "dropped message on maelstrom/cmd/x (repeated 99 times)",
    ]
