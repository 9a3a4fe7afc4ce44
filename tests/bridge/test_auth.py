"""With MAELSTROM_API_TOKEN set, /ws requires it: `?token=` or `Authorization: Bearer`."""

from __future__ import annotations

import aiohttp
import pytest

from tests.bridge.browser import Browser
from tests.bridge.conftest import StartBridge

TOKEN = "brew-day-secret"


async def test_without_a_token_the_socket_is_refused_with_a_reason(
    make_bridge: StartBridge, http: aiohttp.ClientSession
) -> None:
    bridge = await make_bridge(api_token=TOKEN)
    for url in (bridge.url, bridge.url + "?token=wrong"):
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(url)
        assert refused.value.status == 401
    async with http.get(bridge.http + "/ws/stats") as resp:
        assert resp.status == 401
        body = await resp.json()
        assert body["error"] == "unauthorized" and "token" in body["detail"]


async def test_token_in_query_or_bearer_header_is_accepted(
    make_bridge: StartBridge, http: aiohttp.ClientSession
) -> None:
    bridge = await make_bridge(api_token=TOKEN)
    by_query = await Browser.connect(http, f"{bridge.url}?token={TOKEN}")
    by_header = await Browser.connect(
        http, bridge.url, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    for b in (by_query, by_header):
        status = await b.wait_for(lambda f: f.get("op") == "status")
        assert status["broker"] == "online"


async def test_without_a_configured_token_anyone_may_connect(
    make_bridge: StartBridge, http: aiohttp.ClientSession
) -> None:
    bridge = await make_bridge()
    b = await Browser.connect(http, bridge.url)
    await b.wait_for(lambda f: f.get("op") == "status")
