"""A WebSocket test client that sees `/ws` as a browser does, and waits for what a test expects."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import aiohttp

Frame = dict[str, Any]


class Browser:
    """Records every frame (a `batch` is unpacked into its `message` frames)."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.frames: list[Frame] = []
        self.socket_frames = 0
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self._changed = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def connect(cls, http: aiohttp.ClientSession, url: str, **kwargs: Any) -> Browser:
        ws = await http.ws_connect(url, heartbeat=None, **kwargs)
        return cls(ws)

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            frame = json.loads(msg.data)
            self.socket_frames += 1
            if frame.get("op") == "batch":
                self.frames.extend(frame["messages"])
            else:
                self.frames.append(frame)
            self._changed.set()
        self.close_code = self.ws.close_code
        self.close_reason = getattr(self.ws, "close_reason", None) or _reason(self.ws)
        self._changed.set()

    @property
    def closed(self) -> bool:
        return self._reader.done()

    @property
    def messages(self) -> list[Frame]:
        return [f for f in self.frames if f.get("op") == "message"]

    def mark(self) -> int:
        return len(self.frames)

    async def send(self, **op: Any) -> None:
        await self.ws.send_str(json.dumps(op))

    async def wait_for(
        self, predicate: Callable[[Frame], bool], timeout: float = 10.0, since: int = 0
    ) -> Frame:
        """The first frame from index `since` that satisfies `predicate`."""

        async def scan() -> Frame:
            index = since
            while True:
                while index < len(self.frames):
                    frame = self.frames[index]
                    index += 1
                    if predicate(frame):
                        return frame
                if self.closed:
                    raise ConnectionError(f"socket closed ({self.close_code}) before the frame")
                self._changed.clear()
                await self._changed.wait()

        try:
            return await asyncio.wait_for(scan(), timeout)
        except TimeoutError:
            raise TimeoutError(
                f"no such frame within {timeout}s; last: {self.frames[-5:]}"
            ) from None

    async def wait_until(self, condition: Callable[[], bool], timeout: float = 10.0) -> None:
        async def scan() -> None:
            while not condition():
                if self.closed:
                    raise ConnectionError(f"socket closed ({self.close_code})")
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(scan(), timeout)

    async def subscribe(self, topic_filter: str, timeout: float = 10.0) -> None:
        """Subscribe and wait for `subscribed`: retained messages are in, live ones will come."""
        mark = self.mark()
        await self.send(op="subscribe", topic=topic_filter)
        await self.wait_for(
            lambda f: f.get("op") == "subscribed" and f.get("topic") == topic_filter,
            timeout,
            since=mark,
        )

    async def wait_closed(self, timeout: float = 10.0) -> None:
        await asyncio.wait_for(asyncio.shield(self._reader), timeout)

    async def close(self) -> None:
        await self.ws.close()
        await self._reader


def _reason(ws: aiohttp.ClientWebSocketResponse) -> str | None:
    exc = ws.exception()
    return str(exc) if exc else None


def is_message(topic: str | None = None) -> Callable[[Frame], bool]:
    return lambda f: f.get("op") == "message" and (topic is None or f["topic"] == topic)
