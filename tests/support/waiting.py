"""Wait for a condition a test expects, with a timeout (never a bare sleep)."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any

POLL_S = 0.005


async def eventually(
    condition: Callable[[], Any | Awaitable[Any]], timeout: float = 10.0, what: str = ""
) -> Any:
    """The first truthy value of `condition()` (sync or async), polled until `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"not within {timeout:g} s: {what or condition}")
        await asyncio.sleep(POLL_S)


def until(condition: Callable[[], Any], timeout: float = 10.0, what: str = "") -> Any:
    """`eventually` for synchronous tests."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"not within {timeout:g} s: {what or condition}")
        time.sleep(POLL_S)
