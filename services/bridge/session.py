"""One browser's socket: its outbox, and how frames leave it without ever waiting on it.

Everything that wants to reach the browser calls `offer()`, which never waits:
the MQTT dispatcher hands a message to five hundred browsers without ever
being held up by one of them. The `Flusher` then sends, for every browser with
something waiting, everything that waits (in `batch` frames of at most
`max_batch` messages), written straight to the socket's transport: a browser that
keeps up costs one buffered write per frame, and no task switch.

A browser whose socket buffer is full (it does not read) is not written to:
its outbox keeps filling, then coalescing, and a small task waits for the
buffer to drain. When it stays full for `stall_limit`, the hub closes it.

While messages keep coming, the flusher runs at most once per `batch_window`,
so batches form; a message arriving after a quiet spell goes out at once, and so
does a batch that fills before the window ends (the window paces small frames; it
never caps what a browser gets). The window widens while the bridge as a whole is
overloaded (see `Pace`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import struct
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from aiohttp import web

from services.bridge.outbox import Frame, Outbox
from services.bridge.protocol import batch_data
from services.bridge.settings import BridgeSettings

if TYPE_CHECKING:
    from services.bridge.hub import Upstream

log = logging.getLogger(__name__)

BATCH_BYTES = 1024 * 1024
"""A batch frame stops growing at about this size."""
HIGH_WATER = 128 * 1024
"""Bytes waiting in a socket's buffer above which nothing more is written to it..."""
LOW_WATER = 16 * 1024
"""...until it has drained below this."""
DRAIN_POLL = 0.02

CLOSE_GOING_AWAY = 1001
CLOSE_TRY_AGAIN_LATER = 1013
"""Sent to a browser closed for being too slow: it should reconnect, and will catch up."""

_ids = itertools.count(1)


class Pace:
    """The batch window every browser gets: `base` normally, up to `most` while the
    bridge is overloaded (its event loop lags, or MQTT messages wait to be dispatched)."""

    OVERLOADED_LAG = 0.020
    CALM_LAG = 0.005
    OVERLOADED_BACKLOG = 256
    CALM_BACKLOG = 32

    def __init__(self, base: float, most: float) -> None:
        self.base = base
        self.most = max(base, most)
        self.window = base

    def adjust(self, lag: float, backlog: int) -> None:
        if lag > self.OVERLOADED_LAG or backlog > self.OVERLOADED_BACKLOG:
            self.window = min(self.most, max(self.window * 2, 0.002))
        elif lag < self.CALM_LAG and backlog < self.CALM_BACKLOG:
            self.window = max(self.base, self.window / 2)


class Flusher:
    """Sends what waits for every browser, in one pass: at once after a quiet spell, and
    at most once per batch window while messages keep coming (so batches form)."""

    def __init__(self, pace: Pace) -> None:
        self._loop = asyncio.get_running_loop()
        self._pace = pace
        self._due: list[BrowserSession] = []
        self._pending: asyncio.Handle | None = None
        self._last = float("-inf")

    def mark(self, session: BrowserSession) -> None:
        self._due.append(session)
        if self._pending is None:
            wait = self._last + self._pace.window - self._loop.time()
            if wait > 0:
                self._pending = self._loop.call_later(wait, self._flush)
            else:  # after the dispatcher's current burst, not in the middle of it
                self._pending = self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._pending = None
        due, self._due = self._due, []
        now = self._last = self._loop.time()
        for session in due:
            session.flush(now)


class BrowserSession:
    def __init__(
        self,
        ws: web.WebSocketResponse,
        request: web.Request,
        settings: BridgeSettings,
        pace: Pace,
        flusher: Flusher,
    ) -> None:
        self.id = next(_ids)
        self.peer = request.remote or "?"
        self.ws = ws
        self._transport = request.transport
        self._settings = settings
        self._pace = pace
        self._mark: Callable[[BrowserSession], None] = flusher.mark
        self.outbox = Outbox(settings.queue_limit)
        self._full = min(settings.max_batch, settings.queue_limit)
        """Messages waiting that make a full batch (sent without waiting for the window)."""
        self.filters: dict[str, Upstream] = {}
        """Filters this browser holds, in the order it subscribed (kept by the hub)."""
        self.last_group = 0
        """The last MQTT message (by the hub's count) offered, so overlaps deliver it once."""
        self.role = "admin"
        """viewer publishes nothing; see Hub.publish."""
        self.who = "browser"
        """Who sends this browser's commands (MQTT 5 `by`): the logged-in user's name."""
        self.closed = False
        self.close_reason: str | None = None
        self.sent_messages = 0
        self.sent_frames = 0
        self._loop = asyncio.get_running_loop()
        self.last_sent = self._loop.time() - 3600.0
        self._marked = False
        self._blocked_since: float | None = None
        self._draining: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"<browser {self.id} from {self.peer}>"

    # called by anyone, never waits ------------------------------------------------------
    def offer(self, frame: Frame) -> None:
        if self.closed:
            return
        outbox = self.outbox
        outbox.put(frame)
        if self._draining:
            return
        if len(outbox) >= self._full:
            # A full batch goes at once, not at the window's end: while the dispatcher
            # catches up on a backlog, a window's worth would overflow the outbox (and
            # coalesce) for a browser that takes everything.
            self._send(self._loop.time())
        elif not self._marked:
            self._marked = True
            self._mark(self)

    def stalled_for(self, now: float) -> float:
        """Seconds the socket has refused more data while messages wait (0 if it takes them)."""
        return now - self._blocked_since if self._blocked_since is not None else 0.0

    # writing ------------------------------------------------------------------------------
    def flush(self, now: float) -> None:
        """Send what waits (the flusher's turn), unless the socket is full."""
        self._marked = False
        self._send(now)

    def _send(self, now: float) -> None:
        if self.closed or not len(self.outbox) or self._draining:
            return
        transport = self._transport
        if transport is None or transport.is_closing() or self.ws.closed:
            return
        # Everything waiting goes now, a batch frame at a time, while the socket takes it.
        # (One batch per turn capped a browser at max_batch per window — 10 000 msg/s at
        # the widest window — and beyond that its outbox filled, coalesced and dropped.)
        outbox, most = self.outbox, self._settings.max_batch
        while transport.get_write_buffer_size() <= HIGH_WATER:
            if not len(outbox):
                self.last_sent = now
                return
            for data, count in _frame_data(outbox.take(most)):
                transport.write(_text_header(len(data)) + data)
                self.sent_frames += 1
                self.sent_messages += count
            self.last_sent = now
        # The socket's buffer is full and messages still wait: they wait in the (bounded,
        # coalescing) outbox until it drains; if it never does, the hub closes it (1013).
        if len(outbox):
            self._blocked_since = now
            self._draining = self._loop.create_task(self._wait_for_room())

    async def _wait_for_room(self) -> None:
        transport = self._transport
        try:
            while (
                transport is not None
                and not transport.is_closing()
                and transport.get_write_buffer_size() > LOW_WATER
            ):
                await asyncio.sleep(DRAIN_POLL)
        finally:
            self._draining = None
        self._blocked_since = None
        self._send(self._loop.time())

    # closing ---------------------------------------------------------------------------------
    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Stop writing and close the socket; a socket that will not take the close is cut."""
        if self.closed:
            return
        self.closed = True
        self.close_reason = reason or None
        if self._draining:
            self._draining.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._draining
        message = reason.encode()[:123]  # the protocol's limit for a close reason
        try:
            await asyncio.wait_for(self.ws.close(code=code, message=message), 2.0)
        except (TimeoutError, ConnectionError):
            if self._transport is not None:
                self._transport.abort()


def _text_header(length: int) -> bytes:
    """A final, unmasked text frame's header (RFC 6455 §5.2), as a server sends it."""
    if length < 126:
        return bytes((0x81, length))
    if length < 65536:
        return struct.pack("!BBH", 0x81, 126, length)
    return struct.pack("!BBQ", 0x81, 127, length)


def _frame_data(frames: list[Frame]) -> Iterator[tuple[bytes, int]]:
    """The socket frames for `frames`: runs of messages batched, replies alone."""
    run: list[bytes] = []
    size = 0
    for frame in frames:
        if frame.topic is None:
            if run:
                yield _join(run)
                run, size = [], 0
            yield frame.data, 0
            continue
        run.append(frame.data)
        size += len(frame.data)
        if size >= BATCH_BYTES:
            yield _join(run)
            run, size = [], 0
    if run:
        yield _join(run)


def _join(run: list[bytes]) -> tuple[bytes, int]:
    return (run[0] if len(run) == 1 else batch_data(run)), len(run)
