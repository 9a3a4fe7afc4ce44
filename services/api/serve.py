"""Serving the API so that idle connections cannot use up the process's sockets.

A connection that sends nothing (a half-open flood, or many forgotten browser
tabs' keep-alives) costs a file descriptor; with the usual limit of 1,024, about
1,000 of them used to stop the API answering at all, `/api/health` included.
Two guards, both cheap:

* idle connections are closed after `IDLE_TIMEOUT` (aiohttp's keep-alive timer,
  which also runs before the first request);
* at most `max_connections` are kept: when a new one arrives at the limit, the
  oldest connections that are waiting for a request (not those running one, nor
  WebSockets) are closed to make room.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import socket
import time
from collections.abc import Callable

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_runner import BaseSite

log = logging.getLogger(__name__)

IDLE_TIMEOUT = 15.0
"""Seconds a connection may wait between requests (or before its first)."""
EVICT_FRACTION = 0.1
"""At the limit, this share of the limit is closed at once, so a flood costs few scans."""


def default_max_connections() -> int:
    """Half the descriptors this process may open: room for the database, the broker
    and the files the UI serves."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 4096
    return max(64, min(4096, soft // 2))


def _waiting_for_request(handler: RequestHandler) -> bool:
    # aiohttp has no public "idle" flag; its own keep-alive check uses the same waiter.
    waiter = getattr(handler, "_waiter", None)
    return (
        waiter is not None
        and not waiter.done()
        and not getattr(handler, "_request_in_progress", False)
    )


class ConnectionGuard:
    def __init__(self, server: web.Server, max_connections: int) -> None:
        self.server = server
        self.max_connections = max_connections
        self.evicted = 0
        self._logged = float("-inf")

    def factory(self) -> RequestHandler:
        connections = self.server.connections
        if len(connections) >= self.max_connections:
            self._evict(connections, max(1, int(self.max_connections * EVICT_FRACTION)))
        return self.server()

    def _evict(self, connections: list[RequestHandler], count: int) -> None:
        closed = 0
        for handler in connections:  # oldest first (insertion order)
            if closed >= count:
                break
            if _waiting_for_request(handler):
                handler.force_close()
                closed += 1
        self.evicted += closed
        now = time.monotonic()
        if closed and now - self._logged > 10.0:  # a flood must not become a log flood
            self._logged = now
            log.warning(
                "%d connections open (limit %d): closing the oldest idle ones (%d so far)",
                len(connections),
                self.max_connections,
                self.evicted,
            )


class GuardedSite(web.TCPSite):
    """A TCPSite whose connections pass through a ConnectionGuard."""

    def __init__(
        self,
        runner: web.AppRunner,
        host: str,
        port: int,
        guard: ConnectionGuard,
        sock: socket.socket | None = None,
    ):
        super().__init__(runner, host, port)
        self.guard = guard
        self.sock = sock

    async def start(self) -> None:
        await BaseSite.start(self)
        loop = asyncio.get_running_loop()
        if self.sock is not None:  # bound before the app started (see services.api.__main__)
            self._server = await loop.create_server(self.guard.factory, sock=self.sock)
            return
        self._server = await loop.create_server(
            self.guard.factory, self._host, self._port, reuse_address=True, backlog=128
        )


async def serve(
    app: web.Application,
    host: str,
    port: int,
    *,
    max_connections: int | None = None,
    ready: Callable[[str], None] = print,
    shutdown_timeout: float = 5.0,
    sock: socket.socket | None = None,
) -> None:
    """Run `app` until SIGINT/SIGTERM (aiohttp's graceful shutdown)."""
    runner = web.AppRunner(
        app,
        handle_signals=True,
        access_log=None,
        keepalive_timeout=IDLE_TIMEOUT,
        shutdown_timeout=shutdown_timeout,
    )
    await runner.setup()
    try:
        assert runner.server is not None
        guard = ConnectionGuard(runner.server, max_connections or default_max_connections())
        site = GuardedSite(runner, host, port, guard, sock)
        await site.start()
        ready(f"======== Running on http://{host}:{port} ========\n(Press CTRL+C to quit)")
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def run(app: web.Application, host: str, port: int, **kwargs: object) -> None:
    with contextlib.suppress(web.GracefulExit, KeyboardInterrupt):
        asyncio.run(serve(app, host, port, **kwargs))  # type: ignore[arg-type]
