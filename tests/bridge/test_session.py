"""One browser's socket: a flush sends everything waiting while the socket takes it."""

from __future__ import annotations

import asyncio

import aiohttp

from services.bridge.outbox import Frame
from services.bridge.protocol import message_text, payload_json
from tests.bridge.browser import Browser
from tests.bridge.conftest import StartBridge, eventually


def message(topic: str, seq: int) -> Frame:
    return Frame(message_text(topic, payload_json(f'{{"seq": {seq}}}'.encode()), False), topic)


async def test_one_flush_sends_more_than_one_batch_when_the_socket_takes_it(
    make_bridge: StartBridge, http: aiohttp.ClientSession
) -> None:
    """Issue 13: one batch per flush capped a browser at max_batch per batch window
    (10 000 msg/s at the widest), and what waited beyond that coalesced and was dropped."""
    bridge = await make_bridge(max_batch=10)
    browser = await Browser.connect(http, bridge.url)
    await browser.wait_for(lambda f: f.get("op") == "status")
    await eventually(lambda: len(bridge.hub.sessions) == 1)
    session = next(iter(bridge.hub.sessions))
    mark = browser.socket_frames

    for seq in range(100):  # ten batches' worth, all waiting at once
        session.offer(message(f"maelstrom/data/bench/t{seq % 3}", seq))
    session.flush(asyncio.get_running_loop().time())

    assert len(session.outbox) == 0  # all of it left in this one turn, not 10 of 100
    await browser.wait_until(lambda: len(browser.messages) >= 100)
    assert [m["payload"]["seq"] for m in browser.messages] == list(range(100))
    assert browser.socket_frames - mark == 10  # as batch frames of max_batch each
    assert session.outbox.dropped == 0
