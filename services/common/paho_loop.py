"""A paho client driven by the asyncio event loop instead of its own network thread.

As aiomqtt does: paho's socket is watched with `add_reader`/`add_writer`, so a
message is decoded and handed to its handler in the event loop that serves it,
with no thread hand-off (`call_soon_threadsafe` per message, two threads taking
turns at the GIL). On top of that the socket is read ahead, 64 kB at a time:
paho reads each packet with several `recv()` calls (the command byte, each byte
of the length, the body), which here come from memory, not the kernel.

The TCP connect itself may block (a broker that does not answer), so it runs in
an executor thread; paho's socket callbacks from there are passed to the loop.
The reconnect back-off is this module's, as paho's lives in its thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho

log = logging.getLogger(__name__)

READ_AHEAD = 65_536
PACKETS_PER_TURN = 256
"""Packets decoded (and, in MqttClient, handled) before other tasks get a turn (the rest
are read on the next): about 10 ms of the bridge's work."""
MAX_BACKLOG = 50_000
"""Messages read but not yet handled before the socket is left unread for a while
(about 10 s of a busy bridge, some 20 MB): memory stays bounded. (MqttClient handles each
message as it reads it, so its backlog stays 0 and this never applies there.)"""
PAUSE_POLL_S = 0.005
MISC_EVERY_S = 1.0
"""paho's keepalive and timeout bookkeeping (`loop_misc`)."""


class ReadAheadSocket:
    """A socket whose `recv(n)` is served from one larger read."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._data = b""
        self._pos = 0

    @property
    def buffered(self) -> bool:
        return self._pos < len(self._data)

    def recv(self, size: int) -> bytes:
        if self._pos >= len(self._data):
            self._data = self.sock.recv(max(size, READ_AHEAD))  # BlockingIOError: nothing yet
            self._pos = 0
            if not self._data:
                return b""  # the broker closed the connection
        end = self._pos + size
        chunk = self._data[self._pos : end]
        self._pos = end if end < len(self._data) else len(self._data)
        return chunk

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sock, name)


class ReadAheadClient(paho.Client):
    """paho's client with its socket read ahead (paho has no public hook for that)."""

    def _create_socket(self) -> Any:
        sock = super()._create_socket()
        if isinstance(sock, socket.socket):
            return ReadAheadSocket(sock)
        return sock  # TLS or a proxy: as paho made it


class LoopDriver:
    """Runs `client`'s network side in `loop`: reads, writes, keepalive, reconnects."""

    def __init__(
        self,
        client: paho.Client,
        min_delay: float = 1.0,
        max_delay: float = 10.0,
        backlog: Callable[[], int] = lambda: 0,
        max_backlog: int = MAX_BACKLOG,
    ) -> None:
        """`backlog()`: messages read but not yet handled; above `max_backlog` the
        socket is not read (the broker holds or drops, as for any slow subscriber)
        until it is down to half."""
        self.client = client
        self._backlog = backlog
        self.max_backlog = max_backlog
        self._paused = False
        self.min_delay = min_delay
        self.max_delay = max_delay
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: int | None = None
        self._sock: Any = None
        self._more: asyncio.Handle | None = None
        """Our next read turn, when one is due (data already read ahead, in memory)."""
        self._misc: asyncio.Task[None] | None = None
        self._connecting: asyncio.Task[None] | None = None
        self._stopping = False
        client.on_socket_open = self._socket_open
        client.on_socket_close = self._socket_close
        client.on_socket_register_write = self._register_write
        client.on_socket_unregister_write = self._unregister_write

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        self._misc = self._loop.create_task(self._keep_alive(), name="mqtt-misc")
        self.reconnect_soon(0.0)

    async def stop(self, timeout: float = 2.0) -> None:
        """Send DISCONNECT (when connected), wait for it to go out, close the socket."""
        self._stopping = True
        for task in (self._connecting, self._misc):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self.client.is_connected():
            self.client.disconnect()
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while self._sock is not None and loop.time() < deadline:
                await asyncio.sleep(0.01)
        if self._sock is not None:
            self.client._sock_close()  # no DISCONNECT went out in time: just close

    def reconnect_soon(self, delay: float | None = None) -> None:
        """After a lost connection (paho's `on_disconnect`): connect again, with back-off."""
        if self._stopping or self._loop is None:
            return
        if self._connecting is not None and not self._connecting.done():
            return
        self._connecting = self._loop.create_task(
            self._reconnect(self.min_delay if delay is None else delay), name="mqtt-reconnect"
        )

    async def _reconnect(self, delay: float) -> None:
        assert self._loop is not None
        while not self._stopping:
            if delay:
                await asyncio.sleep(delay)
            try:
                await self._loop.run_in_executor(None, self.client.reconnect)
                return
            except (OSError, paho.WebsocketConnectionError) as exc:
                log.debug("MQTT connect failed: %s", exc)
            delay = min(self.max_delay, max(self.min_delay, delay * 2))

    async def _keep_alive(self) -> None:
        while True:
            await asyncio.sleep(MISC_EVERY_S)
            if self._sock is not None:
                self.client.loop_misc()

    # paho's socket callbacks (the loop's thread, or the executor's during a connect) ----
    def _in_loop(self, fn: Any, *args: Any) -> None:
        assert self._loop is not None
        if threading.get_ident() == self._thread:
            fn(*args)
        elif not self._loop.is_closed():
            self._loop.call_soon_threadsafe(fn, *args)

    def _socket_open(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        real = sock.sock if isinstance(sock, ReadAheadSocket) else sock
        with contextlib.suppress(OSError, AttributeError):
            # paho leaves Nagle's algorithm on: small QoS 1 messages would wait ~40 ms.
            real.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._in_loop(self._watch, sock)

    def _watch(self, sock: Any) -> None:
        assert self._loop is not None
        self._sock = sock
        self._loop.add_reader(sock, self._readable, sock)

    def _socket_close(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        self._in_loop(self._unwatch, sock)

    def _unwatch(self, sock: Any) -> None:
        assert self._loop is not None
        with contextlib.suppress(ValueError, OSError):
            self._loop.remove_reader(sock)
            self._loop.remove_writer(sock)
        if self._sock is sock:
            self._sock = None
            if self._more is not None:
                self._more.cancel()
                self._more = None

    def _register_write(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        self._in_loop(self._add_writer, sock)

    def _add_writer(self, sock: Any) -> None:
        assert self._loop is not None
        if sock is self._sock or self._sock is None:
            with contextlib.suppress(ValueError, OSError):
                self._loop.add_writer(sock, self.client.loop_write)

    def _unregister_write(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        self._in_loop(self._remove_writer, sock)

    def _remove_writer(self, sock: Any) -> None:
        assert self._loop is not None
        with contextlib.suppress(ValueError, OSError):
            self._loop.remove_writer(sock)

    def _readable(self, sock: Any) -> None:
        """The socket has data (the selector says so on every turn while the kernel holds
        some): read, unless a turn of ours is already due to."""
        if self._more is None:
            self._read(sock)

    def _read_more(self, sock: Any) -> None:
        self._more = None
        self._read(sock)

    def _read(self, sock: Any) -> None:
        client = self.client
        assert self._loop is not None
        for _ in range(PACKETS_PER_TURN):
            if self._backlog() > self.max_backlog:
                self._pause(sock)
                return
            client.loop_read()
            if self._sock is not sock or not getattr(sock, "buffered", False):
                return
        # More in memory (the socket may not wake us): one more turn, after the others'.
        # Only one: a turn for each selector wake-up as well would pile up under load,
        # a few more every loop iteration, and starve everything else for seconds.
        self._more = self._loop.call_soon(self._read_more, sock)

    def _pause(self, sock: Any) -> None:
        """Stop reading while the handlers catch up: memory stays bounded."""
        assert self._loop is not None
        if not self._paused:
            self._paused = True
            with contextlib.suppress(ValueError, OSError):
                self._loop.remove_reader(sock)
            self._loop.call_later(PAUSE_POLL_S, self._maybe_resume, sock)

    def _maybe_resume(self, sock: Any) -> None:
        assert self._loop is not None
        if self._sock is not sock:
            self._paused = False
            return
        if self._backlog() > self.max_backlog // 2:
            self._loop.call_later(PAUSE_POLL_S, self._maybe_resume, sock)
            return
        self._paused = False
        self._loop.add_reader(sock, self._readable, sock)
        self._readable(sock)
