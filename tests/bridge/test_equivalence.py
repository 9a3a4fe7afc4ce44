"""Wildcards as Mosquitto does them: for random topics and filters, what the broker delivers
to a plain MQTT subscriber is exactly what the bridge delivers to a browser.

Each example: a "warm" browser holds some filters already (so the bridge holds
them upstream and caches their retained messages); retained messages are
published; a plain MQTT subscriber and a fresh browser subscribe to the same
filters; live messages follow (some retained); then a fence message both wait
for. The two must have received the same multiset of (topic, payload,
retained). Topics include `$` topics, empty levels and
leading/trailing slashes; filters every legal placement of `+` and `#`.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections import Counter
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.common.config import Config
from services.common.topics import TopicFilter, matches
from tests.bridge.browser import Browser, is_message
from tests.bridge.conftest import RunningBridge, start_bridge
from tests.support.broker import Broker
from tests.support.probe import MqttProbe

T = TypeVar("T")

LEVELS = ["a", "b", ""]
topics = st.builds(
    lambda first, rest: "/".join([first, *rest]),
    st.sampled_from(["a", "b", "", "$x"]),
    st.lists(st.sampled_from(LEVELS), max_size=3),
).filter(bool)
filters = st.builds(
    lambda first, rest, tail: "/".join([first, *rest, *tail]),
    st.sampled_from(["a", "", "+", "$x", "#"]),
    st.lists(st.sampled_from([*LEVELS, "+"]), max_size=3),
    st.sampled_from([[], ["#"]]),
).filter(lambda f: f and "#" not in f[:-1])
scenarios = st.fixed_dictionaries(
    {
        "warm": st.lists(filters, max_size=2),
        "retained": st.lists(topics, max_size=4),
        "filters": st.lists(filters, min_size=1, max_size=3),
        "live": st.lists(st.tuples(topics, st.booleans()), max_size=6),
    }
)


class BridgeThread:
    """The bridge and a browser on their own event loop, so hypothesis can drive them."""

    def __init__(self, config: Config) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        # A short quiet period after SUBACK keeps the examples quick; Mosquitto is local.
        self.bridge: RunningBridge = self.run(start_bridge(config, priming_quiet=0.02))
        self.http: aiohttp.ClientSession = self.run(self._session())

    @staticmethod
    async def _session() -> aiohttp.ClientSession:
        return aiohttp.ClientSession()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 20.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.run(self.http.close())
        self.run(self.bridge.runner.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture
def bridge_thread(config: Config) -> Iterator[BridgeThread]:
    bt = BridgeThread(config)
    yield bt
    bt.close()


def test_filter_matching_agrees_with_paho_on_the_rules() -> None:
    """The bridge's fast matcher against paho's, on a grid of every small case."""
    all_topics = [
        "/".join(p) for n in (1, 2, 3) for p in itertools.product(["a", "", "$x"], repeat=n)
    ]
    all_filters = [
        "/".join(p)
        for n in (1, 2, 3)
        for p in itertools.product(["a", "", "+", "#", "$x"], repeat=n)
        if "/".join(p) and "#" not in "/".join(p)[:-1]
    ]
    for f in all_filters:
        matcher = TopicFilter(f)
        for t in all_topics:
            if t:
                assert matcher.matches(t) == matches(f, t), (f, t)


@pytest.mark.xdist_group("equivalence")
def test_bridge_delivers_what_mosquitto_delivers(
    broker: Broker, bridge_thread: BridgeThread
) -> None:
    counter = itertools.count()
    publisher = MqttProbe(broker.port)
    plain = MqttProbe(broker.port)

    @settings(
        max_examples=100,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(scenarios)
    def check(scenario: dict[str, Any]) -> None:
        n = next(counter)
        got_plain, got_browser = compare(publisher, plain, bridge_thread, scenario, n)
        assert got_browser == got_plain, f"scenario {scenario}"

    try:
        check()
    finally:
        publisher.close()
        plain.close()


def compare(
    publisher: MqttProbe, plain: MqttProbe, bt: BridgeThread, scenario: dict[str, Any], n: int
) -> tuple[Counter[tuple[str, str, bool]], Counter[tuple[str, str, bool]]]:
    tag = f"x{n}-"
    fence_topic = f"fence/{n}"
    subscribed = [*scenario["filters"], fence_topic]
    since = plain.mark()
    warm: Browser = bt.run(Browser.connect(bt.http, bt.bridge.url))
    browser: Browser = bt.run(Browser.connect(bt.http, bt.bridge.url))
    try:
        warm_fence = f"warm/{n}"
        for topic_filter in [*scenario["warm"], warm_fence]:
            bt.run(warm.subscribe(topic_filter))
        for i, topic in enumerate(scenario["retained"]):
            publisher.publish(topic, f"{tag}r{i}", retain=True)
        publisher.publish(warm_fence, "fence")  # once in, the bridge has seen all retained
        bt.run(warm.wait_for(is_message(warm_fence)))
        for topic_filter in subscribed:
            plain.subscribe(topic_filter)
            bt.run(browser.subscribe(topic_filter))
        for i, (topic, retain) in enumerate(scenario["live"]):
            publisher.publish(topic, f"{tag}l{i}", retain=retain)
        publisher.publish(fence_topic, f"{tag}fence")
        plain.wait_for(fence_topic, since=since)
        bt.run(browser.wait_for(is_message(fence_topic)))

        got_plain = Counter(
            (m.topic, m.text, m.retain)
            for m in plain.messages[since:]
            if m.payload.startswith(tag.encode()) and m.topic != fence_topic
        )
        got_browser = Counter(
            (f["topic"], f["payload"], f["retained"])
            for f in browser.messages
            if str(f["payload"]).startswith(tag) and f["topic"] != fence_topic
        )
        return got_plain, got_browser
    finally:
        bt.run(browser.close())
        bt.run(warm.close())
        plain.unsubscribe(*subscribed)
        for topic in {*scenario["retained"], *(t for t, r in scenario["live"] if r)}:
            publisher.publish(topic, b"", retain=True)  # leave no retained state behind
