"""The bridge in-process on a free port, against the test's own Mosquitto."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from services.bridge import HUB, BridgeSettings
from services.bridge.__main__ import create_app
from services.bridge.hub import Hub
from services.common.config import Config
from tests.bridge.browser import Browser
from tests.support.ports import free_port


@dataclass
class RunningBridge:
    port: int
    app: web.Application
    runner: web.AppRunner

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def hub(self) -> Hub:
        return self.app[HUB]


async def start_bridge(config: Config, port: int | None = None, **settings: Any) -> RunningBridge:
    app = create_app(config, BridgeSettings.from_config(config, **settings))
    runner = web.AppRunner(app, shutdown_timeout=5.0)
    await runner.setup()
    port = port or free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    bridge = RunningBridge(port, app, runner)
    assert await bridge.hub.mqtt.wait_connected(10), "bridge could not reach the broker"
    return bridge


StartBridge = Callable[..., Awaitable[RunningBridge]]


async def eventually(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait until `condition()` holds (for state no event announces, like a counter)."""

    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.05)

    await asyncio.wait_for(poll(), timeout)


@pytest.fixture
async def make_bridge(config: Config) -> AsyncIterator[StartBridge]:
    """`await make_bridge(**settings)`: a running bridge; stopped after the test."""
    started: list[RunningBridge] = []

    async def make(**settings: Any) -> RunningBridge:
        bridge = await start_bridge(config, **settings)
        started.append(bridge)
        return bridge

    yield make
    for bridge in started:
        await bridge.runner.cleanup()


@pytest.fixture
async def bridge(make_bridge: StartBridge) -> RunningBridge:
    return await make_bridge()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def browser(bridge: RunningBridge, http: aiohttp.ClientSession) -> AsyncIterator[Browser]:
    b = await Browser.connect(http, bridge.url)
    await b.wait_for(lambda f: f.get("op") == "status")
    yield b
    await b.ws.close()
