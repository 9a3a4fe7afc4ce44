"""The fan-out: one upstream MQTT subscription per distinct filter, shared by every browser.

The hub owns its own MQTT connection (so its MQTT 5 subscription options touch
no one else's handlers). For each filter any browser holds it keeps one
`Upstream`: the browsers on it, reference counted, and where the filter is in
its life:

* WAITING — SUBSCRIBE sent (or to be re-sent on reconnect), no SUBACK yet;
* PRIMING — the broker accepted it and is sending the retained messages;
* LIVE — retained messages delivered; browsers have had `subscribed`.

Retained messages go to a browser exactly once per subscription, as a plain
MQTT subscriber gets them: from the retained cache when the bridge already
holds the filter, and from the broker's burst when it is new. Per browser (or,
after a reconnect, per filter) a `known` map of topic → payload records what
the browser has been given, so the cache snapshot and the burst never repeat
each other.

Mosquitto sends a filter's retained messages right after its SUBACK, before
anything published later; so the first non-retained message after the SUBACK
ends the burst. Failing that, the burst ends after `priming_quiet` without a
retained message, or `priming_max` after the SUBACK.

One MQTT message matching several filters arrives once per filter (MQTT 5
subscription identifiers); a browser holding several of those filters gets it
once, as Mosquitto delivers it once to a plain MQTT subscriber.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import functools
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import ValidationError

from services.bridge import protocol
from services.bridge.outbox import Frame
from services.bridge.protocol import (
    FrameError,
    Publish,
    Subscribe,
    Unsubscribe,
    error_text,
    message_text,
    parse_client_frame,
    payload_from_browser,
    payload_json,
)
from services.bridge.retained import RetainedCache
from services.bridge.session import (
    CLOSE_GOING_AWAY,
    CLOSE_TRY_AGAIN_LATER,
    BrowserSession,
    Flusher,
    Pace,
)
from services.bridge.settings import BridgeSettings
from services.common.config import Config
from services.common.mqtt import Message, MqttClient
from services.common.repeater import Repeater
from services.common.schema.target import CommandReply
from services.common.topics import TopicError, TopicFilter, Topics, check_topic

log = logging.getLogger(__name__)

HOUSEKEEPING_INTERVAL = 1.0
PACE_INTERVAL = 0.25
RESUBSCRIBE_GRACE = 5.0
"""After a reconnect, say "online" at the latest this long after, even if a SUBACK is missing."""


class Phase(enum.Enum):
    WAITING = "waiting"
    PRIMING = "priming"
    LIVE = "live"


@dataclass
class _Subscription:
    """One browser's hold on one upstream filter."""

    known: dict[str, bytes] | None = None
    """Retained topic → payload this browser got for this subscription while priming."""
    confirmed: bool = False
    """`subscribed` has been sent."""


@dataclass(eq=False)
class Upstream:
    """One upstream filter and the browsers that hold it."""

    matcher: TopicFilter
    sessions: dict[BrowserSession, _Subscription] = field(default_factory=dict)
    phase: Phase = Phase.WAITING
    known: dict[str, bytes] | None = None
    """After a reconnect: what the filter's browsers had been given, shared by them all."""
    accepted_at: float = 0.0
    last_retained_at: float = 0.0
    timer: asyncio.TimerHandle | None = None
    removed: bool = False

    def cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    @property
    def filter(self) -> str:
        return self.matcher.filter


class _Copy:
    """An MQTT message as frames, built at most once however many browsers get it."""

    __slots__ = ("_live", "_payload", "_retained", "message")

    def __init__(self, message: Message) -> None:
        self.message = message
        self._payload: str | None = None
        self._live: Frame | None = None
        self._retained: Frame | None = None

    def frame(self, retained: bool) -> Frame:
        if retained:
            if self._retained is None:
                self._retained = self._build(True)
            return self._retained
        if self._live is None:
            self._live = self._build(False)
        return self._live

    def _build(self, retained: bool) -> Frame:
        if self._payload is None:
            self._payload = payload_json(self.message.payload)
        topic = self.message.topic
        return Frame(message_text(topic, self._payload, retained), topic)


def retained_frame(topic: str, payload: bytes) -> Frame:
    return Frame(message_text(topic, payload_json(payload), True), topic)


def reply(text: str) -> Frame:
    return Frame(text)


@dataclass
class HubStats:
    dropped: int = 0
    """Messages coalesced away for slow browsers (sessions already closed)."""
    closed_slow: int = 0
    refused_publishes: int = 0
    invalid_frames: int = 0


class Hub:
    def __init__(self, config: Config, settings: BridgeSettings) -> None:
        self.settings = settings
        # Its own broker login when it has one: the broker then holds browsers to what the
        # bridge user may do, whatever this process's API user may. Its socket read by the
        # event loop or by paho's thread: MAELSTROM_BRIDGE_MQTT_DRIVER (docs/benchmarks.md).
        login = replace(config, mqtt=config.bridge_mqtt) if config.bridge_mqtt else config
        self.mqtt = MqttClient(
            login,
            "bridge",
            announce=False,
            reconnect_max_delay=5.0,
            in_loop=config.bridge_mqtt_driver == "loop",
        )
        self.sessions: set[BrowserSession] = set()
        self.cache = RetainedCache()
        self.stats = HubStats()
        self.pace = Pace(settings.batch_window, settings.max_batch_window)
        self.flusher = Flusher(self.pace)
        self._acl = [TopicFilter(f) for f in settings.publish_acl]
        self._config_filter = TopicFilter(Topics(config.topic_prefix).all_config())
        self._upstreams: dict[str, Upstream] = {}
        self._priming: set[Upstream] = set()
        self._epoch = 0
        self._group = 0
        self._group_key: tuple[str, bytes, bool] | None = None
        self._group_filters: set[str] = set()
        self._housekeeping: Repeater | None = None
        self._pacing: Repeater | None = None
        self._closing: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._online = False
        self._resubscribing: set[str] = set()
        self._online_timer: asyncio.TimerHandle | None = None
        self._command_filter = TopicFilter(self.mqtt.topics.all_loop_commands)
        self._reply_topic = self.mqtt.topics.replies(self.mqtt.client_id)

    # lifecycle ----------------------------------------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.mqtt.on_connect(self._broker_connected)
        self.mqtt.on_disconnect(self._broker_lost)
        self.mqtt.on_subscribed(self._subscription_accepted)
        self.mqtt.subscribe(self._reply_topic, self._on_command_reply)
        await self.mqtt.start()
        self._housekeeping = Repeater(
            "bridge-housekeeping",
            lambda: self._sweep_sessions(self._loop.time()),  # type: ignore[union-attr]
            HOUSEKEEPING_INTERVAL,
        ).start()
        self._pacing = Repeater("bridge-pace", self._keep_pace, 0.0).start()

    async def close_browsers(self, reason: str = "server shutting down") -> None:
        """Close every browser socket (on shutdown, so graceful shutdown need not wait)."""
        await asyncio.gather(
            *(s.close(CLOSE_GOING_AWAY, reason) for s in list(self.sessions)),
            return_exceptions=True,
        )

    async def stop(self) -> None:
        await self.close_browsers()
        for repeater in (self._housekeeping, self._pacing):
            if repeater is not None:
                await repeater.stop()
        for task in list(self._closing):
            with contextlib.suppress(Exception):
                await task
        await self.mqtt.stop()
        if self._online_timer is not None:
            self._online_timer.cancel()

    @property
    def broker_online(self) -> bool:
        """As browsers are told: connected, and their subscriptions made again."""
        return self._online

    # browsers -------------------------------------------------------------------------
    def attach(self, session: BrowserSession) -> None:
        self.sessions.add(session)
        session.offer(reply(self._status()))

    def detach(self, session: BrowserSession) -> None:
        self.sessions.discard(session)
        for topic_filter in list(session.filters):
            self._drop(session, topic_filter)
        self.stats.dropped += session.outbox.dropped

    def handle(self, session: BrowserSession, text: str) -> None:
        """One text frame from a browser. Never raises, never waits."""
        try:
            op = parse_client_frame(text)
        except FrameError as exc:
            self.stats.invalid_frames += 1
            self._refuse(session, "invalid_frame", str(exc))
            return
        if isinstance(op, Subscribe):
            self.subscribe(session, op.topic)
        elif isinstance(op, Unsubscribe):
            self.unsubscribe(session, op.topic)
        elif isinstance(op, Publish):
            self.publish(session, op)

    def subscribe(self, session: BrowserSession, topic_filter: str) -> None:
        try:
            matcher = TopicFilter(topic_filter)
        except TopicError as exc:
            self._refuse(session, "invalid_filter", str(exc), topic=topic_filter)
            return
        if topic_filter.startswith("$SYS"):
            # $SYS/# tells a page the broker's clients, versions and load: not a browser's.
            self._refuse(
                session,
                "forbidden",
                "the broker's own topics ($SYS/…) are not available to browsers",
                topic=topic_filter,
            )
            return
        if topic_filter.startswith("$share/"):
            self._refuse(
                session,
                "invalid_filter",
                "shared subscriptions ($share/…) are not available to browsers",
                topic=topic_filter,
            )
            return
        if (
            topic_filter not in session.filters
            and len(session.filters) >= self.settings.max_subscriptions
        ):
            self._refuse(
                session,
                "too_many_subscriptions",
                f"a browser may hold at most {self.settings.max_subscriptions} subscriptions",
                topic=topic_filter,
            )
            return
        upstream = self._upstreams.get(topic_filter)
        if upstream is None:
            upstream = self._upstreams[topic_filter] = Upstream(matcher)
            self.mqtt.subscribe(
                topic_filter,
                functools.partial(self._on_message, upstream),
                qos=0,
                retain_as_published=True,
            )
        # Subscribing again to a filter one holds re-sends its retained messages (MQTT 3.8.4).
        snapshot = self.cache.matching(upstream.matcher)
        for topic, payload in snapshot:
            session.offer(retained_frame(topic, payload))
        subscription = _Subscription()
        if upstream.phase is Phase.LIVE:
            subscription.confirmed = True
            session.offer(reply(protocol.subscribed_text(topic_filter)))
        else:
            subscription.known = dict(snapshot)
        upstream.sessions[session] = subscription
        session.filters[topic_filter] = upstream

    def unsubscribe(self, session: BrowserSession, topic_filter: str) -> None:
        if topic_filter in session.filters:
            self._drop(session, topic_filter)
        session.offer(reply(protocol.unsubscribed_text(topic_filter)))

    def publish(self, session: BrowserSession, op: Publish) -> None:
        try:
            check_topic(op.topic)
        except TopicError as exc:
            self.stats.refused_publishes += 1
            self._refuse(session, "invalid_topic", str(exc), topic=op.topic)
            return
        if session.role == "viewer":
            self.stats.refused_publishes += 1
            self._refuse(session, "forbidden", "a viewer may not publish", topic=op.topic)
            return
        if not any(f.matches(op.topic) for f in self._acl):
            self.stats.refused_publishes += 1
            allowed = ", ".join(self.settings.publish_acl) or "nowhere"
            self._refuse(
                session,
                "forbidden",
                f"browsers may not publish to {op.topic}; allowed: {allowed}",
                topic=op.topic,
            )
            return
        refusal = self._publish_refusal(op)
        if refusal:
            self.stats.refused_publishes += 1
            self._refuse(session, "forbidden", refusal, topic=op.topic)
            return
        extra: dict[str, Any] = {}
        if self._command_filter.matches(op.topic):
            # The controller answers a refusal to this browser (an error frame), not a log only.
            extra = {
                "response_topic": self._reply_topic,
                "correlation": str(session.id).encode(),
                "user": {"by": session.who},
            }
        self.mqtt.publish(
            op.topic, payload_from_browser(op.payload), qos=op.qos, retain=op.retain, **extra
        )

    def _on_command_reply(self, message: Message) -> None:
        try:
            answer = CommandReply.model_validate_json(message.payload)
            session_id = int((message.correlation or b"").decode())
        except (ValidationError, ValueError):
            return
        if answer.ok:
            return  # the new target reaches every browser on maelstrom/target/… and data/…
        session = next((s for s in self.sessions if s.id == session_id), None)
        if session is not None:
            self._refuse(
                session,
                "refused",
                answer.error or "refused",
                topic=self.mqtt.topics.loop_command(answer.loop, answer.command),
                loop=answer.loop,
                command=answer.command,
            )

    def _publish_refusal(self, op: Publish) -> str | None:
        """Rules no MAELSTROM_WS_PUBLISH_ACL can lift: why `op` is refused, or None."""
        if self._config_filter.matches(op.topic):
            return "configuration comes from the API only, never from a browser"
        if op.retain and not payload_from_browser(op.payload):
            # An empty retained message deletes the topic's record (an alarm's, a loop's state).
            return "browsers may not clear retained topics"
        return None

    def _refuse(self, session: BrowserSession, code: str, error: str, **detail: Any) -> None:
        session.offer(reply(error_text(code, error, **detail)))

    def _drop(self, session: BrowserSession, topic_filter: str) -> None:
        upstream = session.filters.pop(topic_filter)
        upstream.sessions.pop(session, None)
        if not upstream.sessions:
            self._release(upstream)

    def _release(self, upstream: Upstream) -> None:
        """No browser holds the filter any more: unsubscribe upstream, forget its retained."""
        upstream.removed = True
        upstream.cancel_timer()
        self._priming.discard(upstream)
        if upstream.filter in self._resubscribing:
            self._resubscribing.discard(upstream.filter)
            if not self._resubscribing:
                self._announce(True)
        del self._upstreams[upstream.filter]
        self.mqtt.unsubscribe(upstream.filter)
        self.cache.forget(upstream.matcher, (u.matcher for u in self._upstreams.values()))

    # MQTT side (all called from the MQTT dispatcher or loop callbacks; none waits) -----------
    def _on_message(self, upstream: Upstream, message: Message) -> None:
        if upstream.removed:
            return
        key = (message.topic, message.payload, message.retain)
        if key == self._group_key and upstream.filter not in self._group_filters:
            self._group_filters.add(upstream.filter)  # the same PUBLISH, for another filter
        else:
            self._group += 1
            self._group_key = key
            self._group_filters = {upstream.filter}
        group = self._group

        if message.retain:
            self.cache.update(message.topic, message.payload, self._epoch)
        elif self._priming:
            # Mosquitto queued every burst before this live message: they are over.
            for primed in list(self._priming):
                self._end_priming(primed)

        copy = _Copy(message)
        if upstream.phase is Phase.PRIMING and message.retain and message.payload:
            self._deliver_burst(upstream, copy)
            return
        if message.retain and upstream.phase is not Phase.LIVE:
            self._note_known(upstream, message)
        frame = copy.frame(False)
        for session in upstream.sessions:
            if session.last_group != group:
                session.last_group = group
                session.offer(frame)

    def _deliver_burst(self, upstream: Upstream, copy: _Copy) -> None:
        """A retained message sent because of the (re)subscription: once to each browser."""
        assert self._loop is not None
        upstream.last_retained_at = self._loop.time()
        topic, payload = copy.message.topic, copy.message.payload
        shared = upstream.known
        shared_new = shared is not None and shared.get(topic) != payload
        if shared is not None:
            shared[topic] = payload
        for session, subscription in upstream.sessions.items():
            known = subscription.known
            if known is not None:
                if known.get(topic) == payload:
                    continue
                known[topic] = payload
            elif not shared_new:
                continue
            session.offer(copy.frame(True))

    def _note_known(self, upstream: Upstream, message: Message) -> None:
        """A live retained change while priming: browsers got it, the burst need not repeat it."""
        maps = [s.known for s in upstream.sessions.values() if s.known is not None]
        if upstream.known is not None:
            maps.append(upstream.known)
        for known in maps:
            if message.payload:
                known[message.topic] = message.payload
            else:
                known.pop(message.topic, None)

    def _subscription_accepted(self, topic_filter: str, granted: bool) -> None:
        if topic_filter in self._resubscribing:
            self._resubscribing.discard(topic_filter)
            if not self._resubscribing:
                self._announce(True)
        upstream = self._upstreams.get(topic_filter)
        if upstream is None:
            return
        if not granted:
            for session in list(upstream.sessions):
                self._refuse(
                    session,
                    "subscription_refused",
                    f"the broker refused the subscription to {topic_filter}",
                    topic=topic_filter,
                )
                session.filters.pop(topic_filter, None)
            upstream.sessions.clear()
            self._release(upstream)
            return
        if upstream.phase is Phase.WAITING:
            assert self._loop is not None
            upstream.phase = Phase.PRIMING
            upstream.accepted_at = upstream.last_retained_at = self._loop.time()
            self._priming.add(upstream)
            self._check_priming(upstream)

    def _check_priming(self, upstream: Upstream) -> None:
        """End the burst once retained messages stopped coming, or it has gone on too long."""
        assert self._loop is not None
        upstream.timer = None
        if upstream not in self._priming:
            return
        s = self.settings
        due = min(upstream.last_retained_at + s.priming_quiet, upstream.accepted_at + s.priming_max)
        if self._loop.time() >= due:
            self._end_priming(upstream)
        else:
            upstream.timer = self._loop.call_at(due, self._check_priming, upstream)

    def _end_priming(self, upstream: Upstream) -> None:
        upstream.cancel_timer()
        self._priming.discard(upstream)
        upstream.phase = Phase.LIVE
        upstream.known = None
        for session, subscription in upstream.sessions.items():
            subscription.known = None
            if not subscription.confirmed:
                subscription.confirmed = True
                session.offer(reply(protocol.subscribed_text(upstream.filter)))
        self.cache.purge_stale(upstream.matcher, self._epoch)

    def _broker_connected(self) -> None:
        # MqttClient has re-sent every SUBSCRIBE: each filter's retained messages will come again.
        assert self._loop is not None
        self._epoch += 1
        self._priming.clear()
        for upstream in self._upstreams.values():
            upstream.cancel_timer()
            if upstream.phase is Phase.LIVE:
                upstream.known = dict(self.cache.matching(upstream.matcher))
            upstream.phase = Phase.WAITING
        # Browsers hear "online" once their subscriptions are live again.
        self._resubscribing = set(self._upstreams)
        if self._resubscribing:
            self._online_timer = self._loop.call_later(RESUBSCRIBE_GRACE, self._announce, True)
        else:
            self._announce(True)

    def _broker_lost(self) -> None:
        self._announce(False)

    def _announce(self, online: bool) -> None:
        if self._online_timer is not None:
            self._online_timer.cancel()
            self._online_timer = None
        self._resubscribing.clear()
        if online != self._online:
            self._online = online
            self._broadcast(self._status())

    def _broadcast(self, text: str) -> None:
        frame = reply(text)
        for session in self.sessions:
            session.offer(frame)

    def _status(self) -> str:
        return protocol.status_text(self.broker_online, heartbeat=self.settings.heartbeat)

    # housekeeping ----------------------------------------------------------------------
    async def _keep_pace(self) -> None:
        """Widen the batch window while the loop lags or MQTT messages queue up."""
        assert self._loop is not None
        started = self._loop.time()
        await asyncio.sleep(PACE_INTERVAL)
        lag = self._loop.time() - started - PACE_INTERVAL
        self.pace.adjust(lag, self.mqtt.backlog)

    def _sweep_sessions(self, now: float) -> None:
        s = self.settings
        status: Frame | None = None
        for session in list(self.sessions):
            if session.closed:
                continue
            stalled = session.stalled_for(now)
            if stalled >= s.stall_limit or session.outbox.replies > s.queue_limit:
                self._close_slow(session, stalled)
            elif now - session.last_sent >= s.heartbeat and not len(session.outbox):
                status = status or reply(self._status())
                session.offer(status)

    def _close_slow(self, session: BrowserSession, stalled: float) -> None:
        self.stats.closed_slow += 1
        reason = (
            f"too slow: accepted nothing for {stalled:.0f} s, "
            f"{session.outbox.dropped} messages dropped"
        )
        log.warning("closing browser %s: %s", session.peer, reason)
        task = asyncio.ensure_future(session.close(CLOSE_TRY_AGAIN_LATER, reason))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    # introspection --------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """Numbers for `/ws/stats` and the benchmark."""
        return {
            "broker": "online" if self.broker_online else "offline",
            "browsers": len(self.sessions),
            "filters": {f: len(u.sessions) for f, u in self._upstreams.items()},
            "retained_cached": len(self.cache),
            "mqtt_in": self.mqtt.stats.messages_in,
            "mqtt_backlog": self.mqtt.backlog,
            "mqtt_driver": "loop" if self.mqtt.in_loop else "thread",
            "dropped": self.stats.dropped + sum(s.outbox.dropped for s in self.sessions),
            "batch_window_ms": round(self.pace.window * 1000, 1),
            "closed_slow": self.stats.closed_slow,
            "refused_publishes": self.stats.refused_publishes,
            "invalid_frames": self.stats.invalid_frames,
        }

    def upstream_filters(self) -> Iterable[str]:
        return tuple(self._upstreams)
