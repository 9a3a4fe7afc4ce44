"""One browser's socket: its outbox, and the writer task that alone awaits the socket.

Everything that wants to reach the browser calls `offer()`, which never
waits: the MQTT dispatcher hands a message to five hundred browsers without
ever being held up by one of them. The writer drains the outbox; when it finds
several messages waiting it sends them as one `batch` frame. At high rates it
sends at most once per `batch_window`, so batches form; at low rates a message
goes out the moment it arrives. The window widens while the bridge as a whole is
overloaded (see `Pace`), so that it spends less per message and catches up.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING

from aiohttp import WSMsgType, web

from services.bridge.outbox import Frame, Outbox
from services.bridge.protocol import batch_data
from services.bridge.settings import BridgeSettings

if TYPE_CHECKING:
    from services.bridge.hub import Upstream

log = logging.getLogger(__name__)

BATCH_BYTES = 1024 * 1024
"""A batch frame stops growing at about this size."""

CLOSE_GOING_AWAY = 1001
CLOSE_TRY_AGAIN_LATER = 1013
"""Sent to a browser closed for being too slow: it should reconnect, and will catch up."""

_ids = itertools.count(1)


class Pace:
    """The batch window every browser's writer uses: `base` normally, up to `most` while
    the bridge is overloaded (its event loop lags, or MQTT messages wait to be dispatched)."""

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


class BrowserSession:
    def __init__(
        self,
        ws: web.WebSocketResponse,
        request: web.Request,
        settings: BridgeSettings,
        pace: Pace | None = None,
    ) -> None:
        self.id = next(_ids)
        self.peer = request.remote or "?"
        self.ws = ws
        self._transport = request.transport
        self._settings = settings
        self._pace = pace or Pace(settings.batch_window, settings.batch_window)
        self.outbox = Outbox(settings.queue_limit)
        self.filters: dict[str, Upstream] = {}
        """Filters this browser holds, in the order it subscribed (kept by the hub)."""
        self.last_group = 0
        """The last MQTT message (by the hub's count) offered, so overlaps deliver it once."""
        self.closed = False
        self.close_reason: str | None = None
        self.sent_messages = 0
        self.sent_frames = 0
        self._loop = asyncio.get_running_loop()
        now = self._loop.time()
        self.last_sent = now
        self._last_progress = now
        self._wake = asyncio.Event()
        self._writer = self._loop.create_task(self._write(), name=f"ws-writer-{self.id}")

    def __repr__(self) -> str:
        return f"<browser {self.id} from {self.peer}>"

    # called by anyone, never waits ------------------------------------------------------
    def offer(self, frame: Frame) -> None:
        if self.closed:
            return
        self.outbox.put(frame)
        if not self._wake.is_set():
            self._wake.set()

    def stalled_for(self, now: float) -> float:
        """Seconds the writer has been unable to hand anything to the socket (0 when idle)."""
        return now - self._last_progress if len(self.outbox) else 0.0

    # the writer ----------------------------------------------------------------------------
    async def _write(self) -> None:
        loop = self._loop
        pace = self._pace
        most = self._settings.max_batch
        send, text = self.ws.send_frame, WSMsgType.TEXT
        try:
            while True:
                if not len(self.outbox):
                    self._wake.clear()
                    await self._wake.wait()
                    self._last_progress = loop.time()
                pause = pace.window - (loop.time() - self.last_sent)
                if pause > 0:  # a frame went out moments ago: let a batch gather
                    await asyncio.sleep(pause)
                frames = self.outbox.take(most)
                for data, count in _frame_data(frames):
                    await send(data, text)
                    self.sent_frames += 1
                    self.sent_messages += count
                    self._last_progress = loop.time()
                self.last_sent = loop.time()
        except ConnectionError:
            pass  # the browser went away; the socket handler cleans up
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("writer for %r failed", self)

    # closing ---------------------------------------------------------------------------------
    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Stop writing and close the socket; a socket that will not take the close is cut."""
        if self.closed:
            return
        self.closed = True
        self.close_reason = reason or None
        self._writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._writer
        message = reason.encode()[:123]  # the protocol's limit for a close reason
        try:
            await asyncio.wait_for(self.ws.close(code=code, message=message), 2.0)
        except (TimeoutError, ConnectionError):
            if self._transport is not None:
                self._transport.abort()


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
