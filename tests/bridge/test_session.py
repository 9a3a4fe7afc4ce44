"""One browser's socket: what waits goes out as soon as a batch is full and the socket takes it."""

from __future__ import annotations

import aiohttp

from services.bridge.outbox import Frame
from services.bridge.protocol import message_text, payload_json
from tests.bridge.browser import Browser
from tests.bridge.conftest import StartBridge, eventually


def message(topic: str, seq: int) -> Frame:
    return Frame(message_text(topic, payload_json(f'{{"seq": {seq}}}'.encode()), False), topic)


async def test_a_browser_that_takes_everything_gets_full_batches_without_waiting_for_the_window(
    make_bridge: StartBridge, http: aiohttp.ClientSession
) -> None:
    """Issue 13: one batch per batch window capped a browser at max_batch per window
    (10 000 msg/s at the widest), and what waited beyond that coalesced and was dropped."""
    bridge = await make_bridge(max_batch=10, batch_window=60.0, max_batch_window=60.0)
    browser = await Browser.connect(http, bridge.url)
    await browser.wait_for(lambda f: f.get("op") == "status")  # the flusher's turn is now taken
    await eventually(lambda: len(bridge.hub.sessions) == 1)
    session = next(iter(bridge.hub.sessions))
    mark = browser.socket_frames

    for seq in range(100):  # ten batches' worth, faster than the window
        session.offer(message(f"maelstrom/data/bench/t{seq % 3}", seq))

    assert len(session.outbox) == 0  # sent as they filled, not one batch a minute
    await browser.wait_until(lambda: len(browser.messages) >= 100)
    assert [m["payload"]["seq"] for m in browser.messages] == list(range(100))
    assert browser.socket_frames - mark == 10  # as batch frames of max_batch each
    assert session.outbox.dropped == 0
