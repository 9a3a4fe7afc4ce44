"""webui/js/maelstrom.js in headless Chromium, against the real API app (with the bridge)."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from playwright.async_api import Browser as Chromium
from playwright.async_api import Page, async_playwright

from services.api.app import create_app
from services.common.config import Config
from services.common.topics import TopicFilter
from tests.support.broker import Broker
from tests.support.ports import free_port
from tests.support.probe import MqttProbe

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("chromium")]

PAGE = Path(__file__).with_name("client_page.html")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
async def chromium() -> AsyncIterator[Chromium]:
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


async def serve_test_page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(PAGE)


async def start_api(config: Config, port: int) -> web.AppRunner:
    """The real API app, plus the test page (served by it, so it is same-origin and local)."""
    app = create_app(config)
    app.router.add_get("/__test__/client.html", serve_test_page)
    runner = web.AppRunner(app, shutdown_timeout=5.0)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


async def open_page(chromium: Chromium, port: int) -> Page:
    # bypass_csp: Playwright evaluates wait_for_function strings, which the CSP forbids
    page = await chromium.new_page(bypass_csp=True)
    await page.goto(f"http://127.0.0.1:{port}/__test__/client.html")
    await page.wait_for_function("window.__t && window.__t.ready === true", timeout=15_000)
    return page


async def received(page: Page, topic: str, count: int = 1) -> list[dict[str, object]]:
    js = f"window.__t.received.filter(m => m.topic === {json.dumps(topic)})"
    await page.wait_for_function(f"{js}.length >= {count}", timeout=15_000)
    return await page.evaluate(js)


async def test_subscribe_publish_and_reconnect_after_a_server_restart(
    chromium: Chromium, config: Config, probe: MqttProbe
) -> None:
    port = free_port()
    server = await start_api(config, port)
    try:
        page = await open_page(chromium, port)
        assert "open/online" in await page.evaluate("window.__t.states")

        probe.publish("maelstrom/data/fermenter", {"pv": 19.5, "sp": 20.0})
        [message] = await received(page, "maelstrom/data/fermenter")
        assert message == {
            "topic": "maelstrom/data/fermenter",
            "payload": {"pv": 19.5, "sp": 20.0},
            "retained": False,
        }

        # Publishing: allowed goes to MQTT, refused comes back as an error event.
        probe.subscribe("maelstrom/cmd/#")
        await page.evaluate(
            "window.__socket.publish('maelstrom/cmd/loops/fermenter/setpoint', '20.5')"
        )
        command = await asyncio.to_thread(probe.wait_for, "maelstrom/cmd/loops/fermenter/setpoint")
        assert command.text == "20.5"
        await page.evaluate("window.__socket.publish('maelstrom/config/loops/x', {id: 'x'})")
        await page.wait_for_function("window.__t.errors.length > 0")
        [error] = await page.evaluate("window.__t.errors")
        assert error["code"] == "forbidden" and error["topic"] == "maelstrom/config/loops/x"

        # The server goes away and comes back on the same port: the page reconnects and
        # re-subscribes by itself.
        await server.cleanup()
        await page.wait_for_function("window.__t.states.at(-1).startsWith('closed')")
        server = await start_api(config, port)
        await page.wait_for_function("window.__t.subscribed >= 2", timeout=15_000)
        probe.publish("maelstrom/data/fermenter", {"pv": 19.6})
        messages = await received(page, "maelstrom/data/fermenter", 2)
        assert messages[-1]["payload"] == {"pv": 19.6}
        assert (await page.evaluate("window.__t.states")).count("open/online") == 2
    finally:
        await server.cleanup()


async def test_a_second_handler_gets_retained_state_and_the_first_no_repeats(
    chromium: Chromium, config: Config, probe: MqttProbe
) -> None:
    # Not a loop's topic: the API clears retained loop data no configured loop owns.
    probe.publish("maelstrom/test/mash", {"pv": 66.0}, retain=True)
    port = free_port()
    server = await start_api(config, port)
    try:
        page = await open_page(chromium, port)
        await page.evaluate(
            """async () => {
                window.__first = [];
                const off = window.__socket.subscribe("maelstrom/test/+", (m) => window.__first.push(m));
                await off.ready;
            }"""
        )
        await page.wait_for_function("window.__first.length === 1", timeout=15_000)
        second = await page.evaluate(
            """async () => {
                const got = [];
                const off = window.__socket.subscribe("maelstrom/test/+", (m) => got.push(m));
                await off.ready;
                return got;
            }"""
        )
        assert second == [
            {"topic": "maelstrom/test/mash", "payload": {"pv": 66.0}, "retained": True}
        ]
        probe.publish("maelstrom/test/fence", "x")
        await page.wait_for_function("window.__first.length >= 2", timeout=15_000)
        first = await page.evaluate("window.__first.map(m => m.topic)")
        assert first == ["maelstrom/test/mash", "maelstrom/test/fence"]
    finally:
        await server.cleanup()


async def test_the_page_is_told_when_the_broker_goes_away_and_comes_back(
    chromium: Chromium, config: Config, broker: Broker
) -> None:
    port = free_port()
    server = await start_api(config, port)
    try:
        page = await open_page(chromium, port)
        await asyncio.to_thread(broker.stop)
        await page.wait_for_function("window.__t.states.at(-1) === 'open/offline'")
        await asyncio.to_thread(broker.start)
        await page.wait_for_function("window.__t.states.at(-1) === 'open/online'", timeout=20_000)
    finally:
        await server.cleanup()


async def test_rest_wrappers_resolve_json_and_reject_with_api_errors(
    chromium: Chromium, config: Config
) -> None:
    port = free_port()
    server = await start_api(config, port)
    try:
        page = await open_page(chromium, port)
        health = await page.evaluate("window.__api.health()")
        assert health["status"] == "ok" and health["broker"]["ok"]
        error = await page.evaluate(
            """window.__api.resource('no-such-resource').get('x').then(
                () => null,
                (e) => ({isApiError: e instanceof window.__ApiError, status: e.status,
                         error: e.error, message: e.message}))"""
        )
        assert error["isApiError"] and error["status"] == 404
        assert error["message"]
    finally:
        await server.cleanup()


async def test_topic_matching_in_the_browser_agrees_with_the_bridge(
    chromium: Chromium, config: Config
) -> None:
    port = free_port()
    server = await start_api(config, port)
    try:
        page = await open_page(chromium, port)
        topics = [
            "/".join(p) for n in (1, 2, 3) for p in itertools.product(["a", "", "$x"], repeat=n)
        ]
        filters = [
            "/".join(p)
            for n in (1, 2, 3)
            for p in itertools.product(["a", "", "+", "#", "$x"], repeat=n)
        ]
        filters = [f for f in filters if f and "#" not in f[:-1]]
        cases = [(f, t) for f in filters for t in topics if t]
        got = await page.evaluate(
            "(cases) => cases.map(([f, t]) => window.__topicMatches(f, t))", cases
        )
        assert got == [TopicFilter(f).matches(t) for f, t in cases]
    finally:
        await server.cleanup()
