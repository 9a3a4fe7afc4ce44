"""The broker goes away and comes back: browsers are told, and receive again without reconnecting."""

from __future__ import annotations

import asyncio

import aiohttp

from tests.bridge.browser import Browser, is_message
from tests.bridge.conftest import RunningBridge
from tests.support.broker import Broker
from tests.support.probe import MqttProbe


def is_status(state: str) -> object:
    return lambda f: f.get("op") == "status" and f["broker"] == state


async def test_browsers_get_status_and_receive_again_after_a_broker_restart(
    browser: Browser, broker: Broker, probe: MqttProbe
) -> None:
    assert browser.frames[0] == {"op": "status", "broker": "online", "heartbeat": 20.0}
    probe.publish("maelstrom/config/loops/mash", {"id": "mash"}, retain=True)
    await browser.subscribe("maelstrom/#")
    await browser.wait_for(is_message("maelstrom/config/loops/mash"))
    probe.close()

    mark = browser.mark()
    await asyncio.to_thread(broker.stop)
    await browser.wait_for(is_status("offline"), since=mark)
    # A command sent while the broker is away is queued, not lost.
    await browser.send(op="publish", topic="maelstrom/cmd/loops/mash/setpoint", payload="66.5")

    await asyncio.to_thread(broker.start)
    listener = MqttProbe(broker.port).subscribe("maelstrom/cmd/#")
    try:
        # "online" comes once the bridge's subscriptions are made again: no publish is missed.
        await browser.wait_for(is_status("online"), since=mark, timeout=20)
        listener.publish("maelstrom/data/mash", {"pv": 64.0})
        live = await browser.wait_for(is_message("maelstrom/data/mash"), since=mark)
        assert live["payload"] == {"pv": 64.0}
        command = await asyncio.to_thread(
            listener.wait_for, "maelstrom/cmd/loops/mash/setpoint", timeout=15
        )
        assert command.text == "66.5"
    finally:
        listener.close()
    # The retained state the browser already had is not sent to it again.
    again = [f for f in browser.frames[mark:] if f.get("topic") == "maelstrom/config/loops/mash"]
    assert again == []
    assert not browser.closed


async def test_a_browser_connecting_while_the_broker_is_down_is_told_so(
    bridge: RunningBridge, http: aiohttp.ClientSession, broker: Broker
) -> None:
    await asyncio.to_thread(broker.stop)
    await asyncio.wait_for(bridge.hub.mqtt.disconnected.wait(), 10)
    browser = await Browser.connect(http, bridge.url)
    status = await browser.wait_for(lambda f: f.get("op") == "status")
    assert status["broker"] == "offline"
    await browser.send(op="subscribe", topic="maelstrom/data/#")
    await asyncio.to_thread(broker.start)
    await browser.wait_for(is_status("online"), timeout=20)
    await browser.wait_for(lambda f: f.get("op") == "subscribed", timeout=20)
    probe = MqttProbe(broker.port)
    try:
        probe.publish("maelstrom/data/f", "1")
        await browser.wait_for(is_message("maelstrom/data/f"))
    finally:
        probe.close()
