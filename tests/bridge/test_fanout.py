"""Many browsers at once, and browsers that stop reading: counted, not timed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest

from tests.bridge.browser import Browser, is_message
from tests.bridge.conftest import RunningBridge, StartBridge, eventually
from tests.bridge.stalled import StalledBrowser
from tests.support.probe import MqttProbe

TOPICS = [f"maelstrom/data/sensors/board/t{i}" for i in range(5)]


@pytest.fixture
async def many() -> AsyncIterator[aiohttp.ClientSession]:
    # Each socket holds a connection: lift aiohttp's pool limit of 100.
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        yield session


def burst(probe: MqttProbe, per_topic: int, payload_bytes: int = 0, first: int = 0) -> None:
    """Publish `per_topic` numbered messages on each topic, interleaved, as fast as paho goes."""
    pad = "x" * payload_bytes
    last = None
    for seq in range(first, first + per_topic):
        for topic in TOPICS:
            last = probe.client.publish(topic, f'{{"seq": {seq}, "pad": "{pad}"}}', qos=0)
    assert last is not None
    last.wait_for_publish(30)


async def flood_until(probe: MqttProbe, done: Callable[[], bool], timeout: float) -> None:
    """A steady stream of 4 kB messages (about 4 MB/s) until `done()`: a browser that
    never reads fills its socket. (One burst may not: the bridge takes it in within a
    batch window or two, coalesces it to the latest per topic and writes only that.)"""
    deadline = time.monotonic() + timeout
    first = 0
    while not done():
        assert time.monotonic() < deadline, f"not within {timeout:g} s"
        await asyncio.to_thread(burst, probe, 2, 4000, first)
        first += 2
        await asyncio.sleep(0.01)


def sequences(browser: Browser) -> dict[str, list[int]]:
    seqs: dict[str, list[int]] = {t: [] for t in TOPICS}
    for m in browser.messages:
        if m["topic"] in seqs:
            seqs[m["topic"]].append(m["payload"]["seq"])
    return seqs


async def test_200_browsers_each_receive_every_message_in_order_per_topic(
    bridge: RunningBridge, many: aiohttp.ClientSession, probe: MqttProbe
) -> None:
    browsers = await asyncio.gather(*(Browser.connect(many, bridge.url) for _ in range(200)))
    await asyncio.gather(*(b.subscribe("maelstrom/data/sensors/#") for b in browsers))
    assert bridge.hub.snapshot()["filters"] == {"maelstrom/data/sensors/#": 200}

    per_topic = 60
    await asyncio.to_thread(burst, probe, per_topic)
    expected = len(TOPICS) * per_topic
    await asyncio.gather(
        *(b.wait_until(lambda b=b: len(b.messages) >= expected, timeout=60) for b in browsers)
    )
    for b in browsers:
        assert sequences(b) == {t: list(range(per_topic)) for t in TOPICS}
    # High rate: messages travelled in batch frames, not one frame each.
    assert sum(b.socket_frames for b in browsers) < 200 * expected
    assert bridge.hub.snapshot()["dropped"] == 0


async def test_a_stalled_browser_does_not_reduce_what_a_fast_one_receives(
    make_bridge: StartBridge, http: aiohttp.ClientSession, probe: MqttProbe
) -> None:
    bridge = await make_bridge(queue_limit=50, stall_timeout=600)
    stalled = await asyncio.to_thread(StalledBrowser, bridge.port, "maelstrom/data/sensors/#")
    fast = await Browser.connect(http, bridge.url)
    await fast.subscribe("maelstrom/data/sensors/#")
    await eventually(lambda: bridge.hub.snapshot()["filters"].get("maelstrom/data/sensors/#") == 2)

    # 3000 messages of ~4 KB, far more than the socket buffers hold, paced by what the
    # fast browser has received (never more than a queue's worth ahead of it).
    per_topic, step = 600, 4
    for start in range(0, per_topic, step):
        await asyncio.to_thread(burst, probe, step, 4000, start)
        await fast.wait_until(lambda n=start + step: len(fast.messages) >= n * len(TOPICS))
    assert sequences(fast) == {t: list(range(per_topic)) for t in TOPICS}
    # The stalled browser really was behind: its queue kept only the latest per topic.
    assert bridge.hub.snapshot()["dropped"] > 0
    stalled.close()


async def test_a_browser_that_stays_stalled_is_closed_with_a_reason(
    make_bridge: StartBridge, http: aiohttp.ClientSession, probe: MqttProbe
) -> None:
    bridge = await make_bridge(queue_limit=50, stall_timeout=1.0)
    stalled = await asyncio.to_thread(StalledBrowser, bridge.port, "maelstrom/data/sensors/#")
    watcher = await Browser.connect(http, bridge.url)
    await watcher.subscribe("maelstrom/data/sensors/#")
    await flood_until(probe, lambda: bridge.hub.snapshot()["closed_slow"] >= 1, timeout=30)
    code, reason = await asyncio.to_thread(stalled.read_until_closed)
    assert code in (1013, None), reason  # 1013 "try again later", or cut if it took nothing
    if code is not None:
        assert "too slow" in reason
    # The others carry on.
    probe.publish(TOPICS[0], '{"seq": -1}')
    await watcher.wait_for(lambda f: is_message(TOPICS[0])(f) and f["payload"]["seq"] == -1)
    stalled.close()


async def test_a_browser_that_never_reads_is_closed_as_too_slow_before_the_heartbeat_gives_up(
    make_bridge: StartBridge, probe: MqttProbe
) -> None:
    """It answers no ping either: the documented 1013 path must come first, with its reason.

    The heartbeat is scaled down (4 s, pong due 2 s later) and the stall timeout
    left at its default: the bridge keeps the stall limit inside the heartbeat.
    """
    bridge = await make_bridge(queue_limit=50, heartbeat=4.0)
    stalled = await asyncio.to_thread(StalledBrowser, bridge.port, "maelstrom/data/sensors/#")
    await eventually(lambda: bridge.hub.snapshot()["filters"].get("maelstrom/data/sensors/#") == 1)
    await flood_until(probe, lambda: bridge.hub.snapshot()["closed_slow"] >= 1, timeout=10)
    code, reason = await asyncio.to_thread(stalled.read_until_closed)
    assert (code, reason.split(":")[0]) == (1013, "too slow"), reason
    stalled.close()
