"""Heartbeats while idle, and a clean close when the server shuts down."""

from __future__ import annotations

import aiohttp

from tests.bridge.browser import Browser
from tests.bridge.conftest import StartBridge


async def test_an_idle_browser_gets_status_frames_as_heartbeat(
    make_bridge: StartBridge, http: aiohttp.ClientSession
) -> None:
    bridge = await make_bridge(heartbeat=1.0)
    browser = await Browser.connect(http, bridge.url)
    first = await browser.wait_for(lambda f: f.get("op") == "status")
    assert first["heartbeat"] == 1.0
    await browser.wait_for(lambda f: f.get("op") == "status", since=1, timeout=10)


async def test_shutdown_closes_every_socket_with_going_away(
    make_bridge: StartBridge, http: aiohttp.ClientSession
) -> None:
    bridge = await make_bridge()
    browsers = [await Browser.connect(http, bridge.url) for _ in range(3)]
    for b in browsers:
        await b.subscribe("maelstrom/data/#")
    await bridge.runner.cleanup()
    for b in browsers:
        await b.wait_closed()
        assert b.close_code == 1001
