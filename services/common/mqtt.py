"""The one MQTT client every Maelstrom service uses.

paho-mqtt 2.x runs the network loop in its own thread, which gives us its
battle-tested reconnect (with back-off) and QoS 1 queueing for free. Messages
are handed to the asyncio loop through a queue and dispatched in arrival order,
so handlers run in the service's event loop and see messages in the order the
broker sent them.

Each service announces itself: `online` (retained) on `<prefix>/status/<service>`
once connected, and a last will of `offline` so the broker says so when the
process dies. Subscriptions are remembered and re-made on every reconnect.

The status is per process instance: each announcement carries the MQTT 5 user
property `instance` (the client id), and a running instance that sees another
instance of its service say `offline` (a second one that stopped or died) says
`online` again, so the running one is never left marked offline.

MQTT 5 subscription identifiers tie each delivered message to the filters that
matched it, so overlapping filters never dispatch the same message twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import socket
import threading
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from . import jsontext, mqtt_properties
from .config import Config
from .paho_loop import LoopDriver, ReadAheadClient
from .topics import Topics, matches

log = logging.getLogger(__name__)

mqtt_properties.install()  # MQTT 5 properties decoded without paho's per-packet tables

DISPATCH_SLICE = 64
"""Messages dispatched in a row before other tasks get a turn."""

ONLINE = "online"
OFFLINE = "offline"


class PayloadError(ValueError):
    """A message payload that is not what the topic's schema expects."""


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes
    retain: bool = False
    qos: int = 0
    response_topic: str | None = None
    """MQTT 5: where the sender wants an answer (commands from the API and the bridge)."""
    correlation: bytes | None = None
    """MQTT 5: the sender's tag for the answer, echoed back verbatim."""
    user: tuple[tuple[str, str], ...] = ()
    """MQTT 5 user properties, e.g. `("by", "anna")` on a command."""

    def user_property(self, name: str) -> str | None:
        return next((value for key, value in self.user if key == name), None)

    @property
    def text(self) -> str:
        try:
            return self.payload.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PayloadError(f"payload on {self.topic} is not UTF-8") from exc

    def json(self) -> Any:
        try:
            return jsontext.loads(self.payload)
        except (ValueError, UnicodeDecodeError) as exc:
            raise PayloadError(f"payload on {self.topic} is not JSON: {exc}") from exc


Handler = Callable[[Message], Awaitable[None] | None]
ConnectHook = Callable[[], Awaitable[None] | None]
SubscribedHook = Callable[[str, bool], None]
"""`hook(topic_filter, granted)`: the broker answered a SUBSCRIBE for `topic_filter`."""


def encode_payload(payload: bytes | str | dict[str, Any] | list[Any] | float | None) -> bytes:
    """bytes pass through, str is UTF-8, None is empty (clears a retained topic), else JSON."""
    if payload is None:
        return b""
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, str):
        return payload.encode()
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass
class MqttStats:
    """Counters for `/metrics` (plain ints: the network thread only ever adds to them)."""

    connects: int = 0
    messages_in: int = 0
    messages_out: int = 0

    @property
    def reconnects(self) -> int:
        return max(0, self.connects - 1)


@dataclass
class _Subscription:
    filter: str
    qos: int
    ident: int
    handlers: list[Handler] = field(default_factory=list)
    active: asyncio.Event = field(default_factory=asyncio.Event)
    retain_as_published: bool = False


@dataclass(frozen=True)
class _SubAck:
    """A SUBACK, queued with the messages so hooks see it in wire order."""

    filter: str
    granted: bool


class MqttClient:
    """asyncio-facing MQTT client with reconnect, re-subscribe, birth and last will."""

    def __init__(
        self,
        config: Config,
        service: str,
        *,
        announce: bool = True,
        reconnect_max_delay: float = 10.0,
        client_id: str | None = None,
        session_expiry_s: int = 0,
        in_loop: bool = False,
    ) -> None:
        """`client_id` and `session_expiry_s` > 0 make a persistent session: the broker
        keeps its subscriptions and queues QoS 1 messages for it while it is away
        (up to Mosquitto's `max_queued_messages`), and delivers them when it returns.

        `in_loop`: the event loop drives the socket (`paho_loop`), not paho's thread —
        for a service whose load is messages in (the bridge). Messages are then handled
        as they are read, with no queue: reading can never run ahead of the handlers
        (a queue let it, 2 000 packets a turn against the dispatcher's 64, and under
        load the handlers got almost no turns). Handlers should be plain functions
        there: one that returns an awaitable runs as a task, not before the next message."""
        self.config = config
        self.service = service
        self.topics = Topics(config.topic_prefix)
        self._announce = announce
        self._status_topic = self.topics.status(service)
        self.client_id = client_id or f"maelstrom-{service}-{uuid.uuid4().hex[:8]}"
        self.session_expiry_s = max(0, int(session_expiry_s))
        settings = config.mqtt
        self.in_loop = in_loop and not settings.tls
        self._client = (ReadAheadClient if self.in_loop else paho.Client)(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=paho.MQTTv5,
        )
        if settings.username:
            self._client.username_pw_set(settings.username, settings.password)
        if settings.tls:
            self._client.tls_set()
        self.instance = self.client_id
        if announce:
            self._client.will_set(
                self._status_topic,
                OFFLINE,
                qos=1,
                retain=True,
                properties=self._status_properties(PacketTypes.WILLMESSAGE),
            )
        self._client.reconnect_delay_set(min_delay=1, max_delay=int(max(1, reconnect_max_delay)))
        self._client.max_queued_messages_set(10_000)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._client.on_subscribe = self._on_subscribe
        self._driver: LoopDriver | None = None
        if self.in_loop:
            self._driver = LoopDriver(
                self._client, 1.0, max(1.0, reconnect_max_delay), backlog=lambda: self.backlog
            )
        else:
            self._client.on_socket_open = _disable_nagle
        self._pending_subacks: dict[int, _Subscription] = {}

        self._lock = threading.Lock()
        self._subs: dict[str, _Subscription] = {}
        self._by_ident: dict[int, _Subscription] = {}
        self._next_ident = 1
        self._connect_hooks: list[ConnectHook] = []
        self._disconnect_hooks: list[ConnectHook] = []
        self._subscribed_hooks: list[SubscribedHook] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._queue: asyncio.Queue[tuple[Message | _SubAck, Any] | None] = asyncio.Queue()
        self._dispatcher: asyncio.Task[None] | None = None
        self._stopping = False
        self.connected = asyncio.Event()
        self.disconnected = asyncio.Event()
        self.disconnected.set()
        self.stats = MqttStats()

    # lifecycle ------------------------------------------------------------------
    def _status_properties(self, packet: int = PacketTypes.PUBLISH) -> Properties:
        props = Properties(packet)
        props.UserProperty = [("instance", self.instance)]
        return props

    def _on_own_status(self, message: Message) -> None:
        """Another instance of this service said `offline`: this one still runs."""
        if self._stopping or message.payload.strip() != OFFLINE.encode():
            return
        if message.user_property("instance") == self.instance:
            return
        log.info("%s: another instance said offline; this one is online", self.service)
        self._client.publish(
            self._status_topic, ONLINE, qos=1, retain=True, properties=self._status_properties()
        )

    async def start(self) -> None:
        """Begin connecting (returns at once; the client keeps retrying in the background)."""
        if self._announce:
            self.subscribe(self._status_topic, self._on_own_status)
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._dispatcher = asyncio.create_task(
            self._dispatch(), name=f"mqtt-dispatch-{self.service}"
        )
        props = None
        if self.persistent:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = self.session_expiry_s
        self._client.connect_async(
            self.config.mqtt.host,
            self.config.mqtt.port,
            keepalive=15,
            clean_start=not self.persistent,
            properties=props,
        )
        if self._driver is not None:
            self._driver.start()
        else:
            self._client.loop_start()

    @property
    def persistent(self) -> bool:
        """Whether the broker keeps this client's session (and queues for it) while away."""
        return self.session_expiry_s > 0

    @property
    def backlog(self) -> int:
        """Messages received but not yet dispatched (a busy service falls behind here)."""
        return self._queue.qsize()

    async def wait_connected(self, timeout: float | None = None) -> bool:
        try:
            await asyncio.wait_for(self.connected.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def stop(self, *, say_offline: bool = True) -> None:
        """Say `offline` (unless `say_offline` is False: a process killed says nothing),
        disconnect cleanly and stop the network thread."""
        self._stopping = True
        if self._announce and say_offline and self.connected.is_set():
            info = self._client.publish(
                self._status_topic,
                OFFLINE,
                qos=1,
                retain=True,
                properties=self._status_properties(),
            )
            with contextlib.suppress(Exception):
                await asyncio.get_running_loop().run_in_executor(None, info.wait_for_publish, 2.0)
        if self._driver is not None:
            await self._driver.stop()
        else:
            self._client.disconnect()
            self._client.loop_stop()
        if self._dispatcher:
            self._queue.put_nowait(None)
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._dispatcher, 2.0)
        self.connected.clear()
        self.disconnected.set()

    async def __aenter__(self) -> MqttClient:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def on_connect(self, hook: ConnectHook) -> None:
        """Run `hook` in the event loop after every (re)connect, subscriptions made."""
        self._connect_hooks.append(hook)

    def on_disconnect(self, hook: ConnectHook) -> None:
        """Run `hook` in the event loop each time an established connection is lost."""
        self._disconnect_hooks.append(hook)

    def on_subscribed(self, hook: SubscribedHook) -> None:
        """Call `hook(filter, granted)` for every SUBACK, in order with the messages.

        The hook runs in the dispatcher, so every message handled after it was
        sent by the broker after it accepted the subscription.
        """
        self._subscribed_hooks.append(hook)

    # publishing -------------------------------------------------------------------
    def publish(
        self,
        topic: str,
        payload: bytes | str | dict[str, Any] | list[Any] | float | None = None,
        *,
        qos: int = 1,
        retain: bool = False,
        response_topic: str | None = None,
        correlation: bytes | None = None,
        user: dict[str, str] | None = None,
        expiry_s: float | None = None,
    ) -> paho.MQTTMessageInfo:
        """Send a message; QoS 1 messages wait in paho's queue while disconnected.

        The returned info tells when the broker has acknowledged a QoS 1 message
        (`is_published()`); its `rc` is an error when paho's queue was full.

        `response_topic`, `correlation`, `user` and `expiry_s` are MQTT 5 properties (a
        command that wants the controller's answer, who sent it, and when the broker
        should drop it rather than deliver it late)."""
        self.stats.messages_out += 1
        props = None
        if response_topic or correlation or user or expiry_s:
            props = Properties(PacketTypes.PUBLISH)
            if expiry_s:
                props.MessageExpiryInterval = max(1, int(expiry_s))
            if response_topic:
                props.ResponseTopic = response_topic
            if correlation:
                props.CorrelationData = correlation
            if user:
                props.UserProperty = list(user.items())
        return self._client.publish(
            topic, encode_payload(payload), qos=qos, retain=retain, properties=props
        )

    # subscribing ------------------------------------------------------------------
    def subscribe(
        self,
        topic_filter: str,
        handler: Handler,
        qos: int = 1,
        *,
        retain_as_published: bool = False,
    ) -> None:
        """Call `handler` for every message matching `topic_filter`, across reconnects.

        Subscribing again to a filter the client already holds re-sends the
        SUBSCRIBE, so the broker delivers its retained messages once more; the
        options of the first subscription to a filter stay. With
        `retain_as_published` live messages keep the publisher's retain flag
        (MQTT 5), so a handler can tell a retained update from a plain message.
        """
        with self._lock:
            sub = self._subs.get(topic_filter)
            if sub is None:
                sub = _Subscription(
                    topic_filter, qos, self._next_ident, retain_as_published=retain_as_published
                )
                self._next_ident += 1
                self._subs[topic_filter] = sub
                self._by_ident[sub.ident] = sub
            sub.handlers.append(handler)
        if self._client.is_connected():
            self._send_subscribe(sub)

    def unsubscribe(self, topic_filter: str, handler: Handler | None = None) -> None:
        """Remove `handler` (or every handler) from `topic_filter`."""
        with self._lock:
            sub = self._subs.get(topic_filter)
            if sub is None:
                return
            if handler is None:
                sub.handlers.clear()
            elif handler in sub.handlers:
                sub.handlers.remove(handler)
            if sub.handlers:
                return
            del self._subs[topic_filter]
            del self._by_ident[sub.ident]
        if self._client.is_connected():
            self._client.unsubscribe(topic_filter)

    def _send_subscribe(self, sub: _Subscription) -> None:
        props = Properties(PacketTypes.SUBSCRIBE)
        props.SubscriptionIdentifier = sub.ident
        with self._lock:
            _, mid = self._client.subscribe(
                sub.filter,
                options=SubscribeOptions(qos=sub.qos, retainAsPublished=sub.retain_as_published),
                properties=props,
            )
            if mid is not None:
                self._pending_subacks[mid] = sub

    def is_subscribed(self, topic_filter: str) -> bool:
        """Whether the broker has acknowledged the subscription to `topic_filter` (now)."""
        sub = self._subs.get(topic_filter)
        return sub is not None and sub.active.is_set()

    async def wait_subscribed(self, topic_filter: str, timeout: float | None = 10.0) -> bool:
        """Wait until the broker has acknowledged the subscription to `topic_filter`."""
        sub = self._subs.get(topic_filter)
        if sub is None:
            raise KeyError(f"not subscribed to {topic_filter}")
        try:
            await asyncio.wait_for(sub.active.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def _to_loop(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run `fn` in the event loop, after everything paho handed over before it."""
        assert self._loop is not None
        if self._driver is not None:
            self._loop.call_soon(fn, *args)  # already in the loop's thread: no wake-up needed
        else:
            self._loop.call_soon_threadsafe(fn, *args)

    # paho callbacks (network thread) ----------------------------------------------------
    def _on_connect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        if reason.is_failure:
            log.debug("MQTT connect to %s refused: %s", self.config.mqtt.url, reason)
            return
        if self._announce:
            client.publish(
                self._status_topic,
                ONLINE,
                qos=1,
                retain=True,
                properties=self._status_properties(),
            )
        with self._lock:
            subs = list(self._subs.values())
        for sub in subs:
            self._send_subscribe(sub)
        if self._loop:
            self._to_loop(self._connected_in_loop)

    def _on_subscribe(
        self, client: paho.Client, userdata: Any, mid: int, reasons: Any, props: Any
    ) -> None:
        with self._lock:
            sub = self._pending_subacks.pop(mid, None)
        if sub is not None and self._loop and not self._loop.is_closed():
            granted = not any(getattr(r, "is_failure", False) for r in reasons)
            if self._inline():
                if granted:
                    sub.active.set()
                else:
                    log.warning("broker refused subscription to %s", sub.filter)
                self._run_subscribed_hooks(_SubAck(sub.filter, granted))
                return
            if granted:
                self._to_loop(sub.active.set)
            else:
                self._to_loop(log.warning, "broker refused subscription to %s", sub.filter)
            if self._subscribed_hooks:
                item = (_SubAck(sub.filter, granted), None)
                self._to_loop(self._queue.put_nowait, item)

    def _on_disconnect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        if self._loop and not self._loop.is_closed():
            self._to_loop(self._disconnected_in_loop)
        if self._driver is not None and not self._stopping:
            self._driver.reconnect_soon()  # paho's own reconnect lives in its thread

    def _on_message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        props = msg.properties
        idents = getattr(props, "SubscriptionIdentifier", None) if props else None
        message = Message(
            msg.topic,
            bytes(msg.payload),
            bool(msg.retain),
            msg.qos,
            getattr(props, "ResponseTopic", None) if props else None,
            getattr(props, "CorrelationData", None) if props else None,
            tuple(getattr(props, "UserProperty", ()) or ()) if props else (),
        )
        self.stats.messages_in += 1
        if self._inline():
            self._handle_now(message, idents)
        elif self._loop and not self._loop.is_closed():
            self._to_loop(self._queue.put_nowait, (message, idents))

    def _inline(self) -> bool:
        """Whether paho calls back from the event loop's own thread (the loop driver)."""
        return self._driver is not None and threading.get_ident() == self._loop_thread

    def _handle_now(self, message: Message, idents: list[int] | int | None) -> None:
        for handler in self._handlers_for(message, idents):
            try:
                result = handler(message)
                if inspect.isawaitable(result):
                    task = asyncio.ensure_future(result)
                    task.add_done_callback(_log_task_failure)
            except PayloadError as exc:
                log.warning("dropped message on %s: %s", message.topic, exc)
            except Exception:
                log.exception("handler for %s failed; message dropped", message.topic)

    # event loop side ---------------------------------------------------------------------
    def _connected_in_loop(self) -> None:
        first = not self.connected.is_set()
        self.stats.connects += 1
        self.connected.set()
        self.disconnected.clear()
        if first:
            log.info("connected to MQTT broker %s", self.config.mqtt.url)
        for hook in self._connect_hooks:
            self._run_hook(hook)

    def _disconnected_in_loop(self) -> None:
        was_connected = self.connected.is_set()
        if was_connected and not self._stopping:
            log.warning("lost MQTT broker %s; reconnecting", self.config.mqtt.url)
        self.connected.clear()
        self.disconnected.set()
        with self._lock:
            for sub in self._subs.values():
                sub.active.clear()
        if was_connected:
            for hook in self._disconnect_hooks:
                self._run_hook(hook)

    def _run_hook(self, hook: ConnectHook) -> None:
        try:
            result = hook()
            if inspect.isawaitable(result):
                task = asyncio.ensure_future(result)
                task.add_done_callback(_log_task_failure)
        except Exception:
            log.exception("MQTT connect hook failed")

    def _handlers_for(self, message: Message, idents: list[int] | int | None) -> list[Handler]:
        with self._lock:
            if idents is not None:
                ids = idents if isinstance(idents, list) else [idents]
                subs = [self._by_ident[i] for i in ids if i in self._by_ident]
            else:
                subs = [s for s in self._subs.values() if matches(s.filter, message.topic)]
            return [h for s in subs for h in s.handlers]

    async def _dispatch(self) -> None:
        handled = 0
        while True:
            item = await self._queue.get()
            if item is None:
                return
            handled += 1
            if handled % DISPATCH_SLICE == 0:
                # A burst must not starve the service's other tasks (e.g. the bridge's
                # socket writers): `get()` does not yield while the queue holds messages.
                await asyncio.sleep(0)
            message, idents = item
            if isinstance(message, _SubAck):
                self._run_subscribed_hooks(message)
                continue
            for handler in self._handlers_for(message, idents):
                try:
                    result = handler(message)
                    if inspect.isawaitable(result):
                        await result
                except PayloadError as exc:
                    log.warning("dropped message on %s: %s", message.topic, exc)
                except Exception:
                    log.exception("handler for %s failed; message dropped", message.topic)

    def _run_subscribed_hooks(self, ack: _SubAck) -> None:
        for hook in self._subscribed_hooks:
            try:
                hook(ack.filter, ack.granted)
            except Exception:
                log.exception("MQTT subscribed hook failed for %s", ack.filter)


def _disable_nagle(client: paho.Client, userdata: Any, sock: Any) -> None:
    # paho leaves Nagle's algorithm on: small QoS 1 messages then wait ~40 ms for
    # the delayed ACK, capping delivery at a few hundred messages a second.
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _log_task_failure(task: asyncio.Future[Any]) -> None:
    if not task.cancelled() and task.exception():
        log.error("background task failed", exc_info=task.exception())
