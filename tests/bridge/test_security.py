"""What a web page may not do through /ws, whatever the settings: connect from another
origin or host, read the broker's $SYS topics, publish configuration, clear a record."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from services.common.config import Config
from tests.api.access import credentials
from tests.api.conftest import start_api
from tests.bridge.browser import Browser
from tests.bridge.conftest import RunningBridge, StartBridge
from tests.bridge.test_publish import is_error
from tests.support.probe import MqttProbe


async def test_a_page_of_another_origin_or_host_cannot_connect(
    bridge: RunningBridge, http: aiohttp.ClientSession
) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect(bridge.url, headers={"Origin": "http://evil.example"})
    assert refused.value.status == 403
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect(bridge.url, headers={"Host": "rebound.evil.example"})
    assert refused.value.status == 421
    same = await Browser.connect(http, bridge.url, headers={"Origin": bridge.http})
    await same.wait_for(lambda f: f.get("op") == "status")


async def test_browsers_cannot_read_sys_nor_clear_or_configure(
    make_bridge: StartBridge, http: aiohttp.ClientSession, probe: MqttProbe
) -> None:
    # even an ACL that lets browsers publish everywhere keeps these closed
    bridge = await make_bridge(publish_acl=("#",))
    browser = await Browser.connect(http, bridge.url)
    await browser.send(op="subscribe", topic="$SYS/#")
    assert "$SYS" in (await browser.wait_for(is_error("forbidden")))["error"]
    probe.subscribe("maelstrom/#")
    for topic, payload, retain in (
        ("maelstrom/config/loops/kettle", '{"id": "kettle"}', True),
        ("maelstrom/alarms/kettle-high", "", True),
    ):
        mark = browser.mark()
        await browser.send(op="publish", topic=topic, payload=payload, retain=retain)
        await browser.wait_for(is_error("forbidden"), since=mark)
    await browser.send(op="publish", topic="maelstrom/cmd/loops/kettle/mode", payload="off")
    await asyncio.to_thread(probe.wait_for, "maelstrom/cmd/loops/kettle/mode")
    assert not [m for m in probe.messages if "config" in m.topic or "alarms" in m.topic]


@pytest.fixture
async def api(config: Config) -> AsyncIterator[TestClient]:
    client = await start_api(config)
    yield client
    await client.close()


async def test_the_api_socket_needs_a_login_and_a_viewer_publishes_nothing(
    api: TestClient, probe: MqttProbe
) -> None:
    creds = await credentials(api)
    api.session.cookie_jar.clear()
    url = api.make_url("/ws")
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await api.session.ws_connect(url)
    assert refused.value.status == 401
    probe.subscribe("maelstrom/cmd/#")
    viewer = await Browser.connect(api.session, url, headers=creds.bearer("viewer"))
    await viewer.send(op="publish", topic="maelstrom/cmd/loops/kettle/output", payload="100")
    assert "viewer" in (await viewer.wait_for(is_error("forbidden")))["error"]
    token = creds.tokens["brewer"]
    brewer = await Browser.connect(api.session, api.make_url(f"/ws?token={token}"))
    await brewer.send(op="publish", topic="maelstrom/cmd/loops/kettle/mode", payload="off")
    await asyncio.to_thread(probe.wait_for, "maelstrom/cmd/loops/kettle/mode")
    assert not [m for m in probe.messages if m.topic.endswith("/output")]
    await viewer.close()
    await brewer.close()
