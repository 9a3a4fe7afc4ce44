"""Retained messages reach every browser on subscribe, once, as a plain MQTT subscriber gets them."""

from __future__ import annotations

import aiohttp

from tests.bridge.browser import Browser, is_message
from tests.bridge.conftest import RunningBridge
from tests.support.probe import MqttProbe


def retained_on(browser: Browser, since: int = 0) -> dict[str, object]:
    return {
        f["topic"]: f["payload"]
        for f in browser.frames[since:]
        if f.get("op") == "message" and f["retained"]
    }


async def test_live_message_reaches_a_wildcard_subscriber(
    browser: Browser, probe: MqttProbe
) -> None:
    await browser.subscribe("maelstrom/data/+")
    probe.publish("maelstrom/data/fermenter", {"pv": 19.8, "sp": 20.0})
    frame = await browser.wait_for(is_message("maelstrom/data/fermenter"))
    assert frame["payload"] == {"pv": 19.8, "sp": 20.0}
    assert frame["retained"] is False


async def test_second_and_later_browsers_get_retained_state_on_subscribe(
    bridge: RunningBridge, http: aiohttp.ClientSession, probe: MqttProbe
) -> None:
    probe.publish("maelstrom/config/loops/mash", {"id": "mash"}, retain=True)
    probe.publish("maelstrom/config/loops/fermenter", {"id": "fermenter"}, retain=True)
    browsers = [await Browser.connect(http, bridge.url) for _ in range(3)]
    for b in browsers:  # one after the other: the 2nd and 3rd are served by the bridge's cache
        await b.subscribe("maelstrom/config/loops/+")
        assert retained_on(b) == {
            "maelstrom/config/loops/mash": {"id": "mash"},
            "maelstrom/config/loops/fermenter": {"id": "fermenter"},
        }
        assert len(b.messages) == 2, "each retained message exactly once"
    assert list(bridge.hub.upstream_filters()) == ["maelstrom/config/loops/+"]


async def test_a_cleared_retained_message_is_not_delivered_to_later_browsers(
    bridge: RunningBridge, http: aiohttp.ClientSession, probe: MqttProbe
) -> None:
    probe.publish("maelstrom/alarms/pilot-light", {"state": "active"}, retain=True)
    probe.publish("maelstrom/alarms/high-level", {"state": "active"}, retain=True)
    first = await Browser.connect(http, bridge.url)
    await first.subscribe("maelstrom/alarms/+")
    assert set(retained_on(first)) == {
        "maelstrom/alarms/pilot-light",
        "maelstrom/alarms/high-level",
    }

    probe.publish("maelstrom/alarms/pilot-light", b"", retain=True)  # cleared
    cleared = await first.wait_for(is_message("maelstrom/alarms/pilot-light"), since=2)
    assert cleared["payload"] == "" and cleared["retained"] is False

    later = await Browser.connect(http, bridge.url)
    await later.subscribe("maelstrom/alarms/+")
    assert retained_on(later) == {"maelstrom/alarms/high-level": {"state": "active"}}


async def test_a_retained_message_published_after_the_first_browser_reaches_later_ones(
    bridge: RunningBridge, http: aiohttp.ClientSession, probe: MqttProbe
) -> None:
    first = await Browser.connect(http, bridge.url)
    await first.subscribe("maelstrom/alarms/+")
    probe.publish("maelstrom/alarms/sensor-lost", {"state": "active"}, retain=True)
    live = await first.wait_for(is_message("maelstrom/alarms/sensor-lost"))
    assert live["retained"] is False  # live, as a plain MQTT subscriber sees it
    probe.publish("maelstrom/logs/controller", {"message": "not retained"})

    later = await Browser.connect(http, bridge.url)
    await later.subscribe("maelstrom/alarms/+")
    assert retained_on(later) == {"maelstrom/alarms/sensor-lost": {"state": "active"}}


async def test_overlapping_filters_retained_per_subscription_live_once(
    browser: Browser, probe: MqttProbe
) -> None:
    probe.publish("maelstrom/data/fermenter", {"pv": 19.0}, retain=True)
    await browser.subscribe("maelstrom/data/#")
    await browser.subscribe("maelstrom/data/+")
    # MQTT: each new subscription delivers the retained messages it matches.
    assert [m["retained"] for m in browser.messages] == [True, True]

    mark = browser.mark()
    probe.publish("maelstrom/data/fermenter", {"pv": 19.5})
    probe.publish("maelstrom/data/fence", "x")  # in order after it: once this is in, so is that
    await browser.wait_for(is_message("maelstrom/data/fence"), since=mark)
    live = [f for f in browser.frames[mark:] if f.get("topic") == "maelstrom/data/fermenter"]
    assert [f["payload"] for f in live] == [{"pv": 19.5}], "once, though two filters match"


async def test_new_overlapping_filter_is_served_from_cache_and_burst_without_repeats(
    bridge: RunningBridge, http: aiohttp.ClientSession, probe: MqttProbe
) -> None:
    for name in ("a", "b", "c"):
        probe.publish(f"maelstrom/data/sensors/board/{name}", {"value": 1}, retain=True)
    wide = await Browser.connect(http, bridge.url)
    await wide.subscribe("maelstrom/data/#")
    narrow = await Browser.connect(http, bridge.url)
    # A filter the bridge does not hold yet, whose topics it already caches through "#".
    await narrow.subscribe("maelstrom/data/sensors/+/+")
    probe.publish("maelstrom/data/sensors/board/fence", "x")
    await narrow.wait_for(is_message("maelstrom/data/sensors/board/fence"))
    topics = [m["topic"] for m in narrow.messages if m["retained"]]
    assert sorted(topics) == [f"maelstrom/data/sensors/board/{n}" for n in "abc"]


async def test_unsubscribe_stops_delivery_and_releases_the_upstream_filter(
    browser: Browser, bridge: RunningBridge, probe: MqttProbe
) -> None:
    await browser.subscribe("maelstrom/logs/#")
    assert "maelstrom/logs/#" in bridge.hub.upstream_filters()
    mark = browser.mark()
    await browser.send(op="unsubscribe", topic="maelstrom/logs/#")
    await browser.wait_for(lambda f: f.get("op") == "unsubscribed", since=mark)
    assert "maelstrom/logs/#" not in bridge.hub.upstream_filters()
    await browser.subscribe("maelstrom/cmd/#")
    probe.publish("maelstrom/logs/controller", "not for you")
    probe.publish("maelstrom/cmd/loops/f/mode", "off")
    await browser.wait_for(is_message("maelstrom/cmd/loops/f/mode"), since=mark)
    assert not [m for m in browser.messages if m["topic"].startswith("maelstrom/logs/")]
