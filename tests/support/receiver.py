"""Real servers on loopback that stand in for the services Maelstrom posts to.

`HttpReceiver` records every request (a webhook, ntfy, Brewfather…), answers with
a status the test chooses, and lets the test wait for the n-th request.
`SmtpReceiver` is an aiosmtpd server that keeps every e-mail it is given.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from aiohttp import web
from aiosmtpd.controller import Controller

from tests.support.ports import free_port


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # the test's clock when it arrived

    def json(self) -> Any:
        return json.loads(self.body)


class HttpReceiver:
    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        self.requests: list[Request] = []
        self.status = 200
        self.port = free_port()
        self._clock = clock or (lambda: 0.0)
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        async with self._changed:
            self.requests.append(
                Request(request.method, request.path_qs, dict(request.headers), body, self._clock())
            )
            self._changed.notify_all()
        if self.status >= 400:
            return web.json_response({"error": "stand-in failure"}, status=self.status)
        return web.json_response({"result": "success", "message": "ok"})

    async def start(self) -> HttpReceiver:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[Request]:
        """Until at least `count` requests have arrived; returns them all."""
        async with self._changed:
            await asyncio.wait_for(
                self._changed.wait_for(lambda: len(self.requests) >= count), timeout
            )
            return list(self.requests)


class _Keep:
    def __init__(self, owner: SmtpReceiver) -> None:
        self.owner = owner

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.owner.cond:
            self.owner.messages.append((list(envelope.rcpt_tos), message))  # type: ignore[arg-type]
            self.owner.cond.notify_all()
        return "250 OK"


class SmtpReceiver:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []
        self.cond = threading.Condition()
        self.port = free_port()
        self._controller = Controller(_Keep(self), hostname="127.0.0.1", port=self.port)

    def start(self) -> SmtpReceiver:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def _wait(self, count: int, timeout: float) -> list[tuple[list[str], EmailMessage]]:
        with self.cond:
            if not self.cond.wait_for(lambda: len(self.messages) >= count, timeout):
                raise TimeoutError(f"{len(self.messages)} e-mails, expected {count}")
            return list(self.messages)

    async def wait_for(
        self, count: int, timeout: float = 15.0
    ) -> list[tuple[list[str], EmailMessage]]:
        return await asyncio.to_thread(self._wait, count, timeout)
