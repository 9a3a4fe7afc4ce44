"""Invalid frames get an error frame naming the problem; the socket stays open."""

from __future__ import annotations

import pytest

from tests.bridge.browser import Browser, is_message
from tests.support.probe import MqttProbe


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        ('{"topic": "a"}', 'no "op"'),
        ('{"op": "shout", "topic": "a"}', "unknown op 'shout'"),
        ('{"op": "subscribe"}', "topic"),
        ('{"op": "subscribe", "topic": ""}', "topic"),
        ('{"op": "subscribe", "topic": 5}', "topic"),
        ('{"op": "publish", "topic": "maelstrom/cmd/x", "retain": "yes"}', "retain"),
        ('{"op": "subscribe", "topic": "a", "extra": 1}', "extra"),
    ],
)
async def test_invalid_frame_is_answered_in_words(
    browser: Browser, probe: MqttProbe, text: str, words: str
) -> None:
    await browser.ws.send_str(text)
    error = await browser.wait_for(lambda f: f.get("op") == "error")
    assert error["code"] == "invalid_frame"
    assert words in error["error"]
    await browser.subscribe("maelstrom/data/#")  # the socket still works
    probe.publish("maelstrom/data/f", "1")
    await browser.wait_for(is_message("maelstrom/data/f"))


@pytest.mark.parametrize("topic_filter", ["a/#/b", "a/b#", "a+/b", "#/a", "$share/g/a/#"])
async def test_invalid_filter_is_refused(browser: Browser, topic_filter: str) -> None:
    await browser.send(op="subscribe", topic=topic_filter)
    error = await browser.wait_for(lambda f: f.get("op") == "error")
    assert error["code"] == "invalid_filter" and error["topic"] == topic_filter


async def test_binary_frames_are_refused(browser: Browser) -> None:
    await browser.ws.send_bytes(b'{"op": "subscribe", "topic": "#"}')
    error = await browser.wait_for(lambda f: f.get("op") == "error")
    assert "binary" in error["error"]
    assert not browser.closed


async def test_payloads_reach_the_browser_as_json_values_or_text(
    browser: Browser, probe: MqttProbe
) -> None:
    await browser.subscribe("maelstrom/data/#")
    sent = [b"20.5", b"constant", b'{"pv": 1}', b"NaN", b"\xff\xfe", b"", b'"quoted"', b"  [1, 2] "]
    for i, payload in enumerate(sent):
        probe.publish(f"maelstrom/data/p{i}", payload)
    await browser.wait_for(is_message(f"maelstrom/data/p{len(sent) - 1}"))
    got = [m["payload"] for m in browser.messages]
    assert got == [20.5, "constant", {"pv": 1}, "NaN", "\ufffd\ufffd", "", "quoted", [1, 2]]
