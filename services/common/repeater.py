"""Every periodic task is one of these: run a step every so often, log and survive an
error, stop on cancel (brewblox-service's repeater). A task that died silently on
its first exception would leave, say, stalled browsers never swept."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable

from services.common.clock import Clock

log = logging.getLogger(__name__)

Step = Callable[[], Awaitable[None] | None]


class Repeater:
    def __init__(
        self,
        name: str,
        step: Step,
        every_s: float,
        clock: Clock | None = None,
        *,
        backoff_max_s: float = 30.0,
    ) -> None:
        self.name = name
        self.step = step
        self.every_s = every_s
        self.clock = clock
        self.backoff_max_s = backoff_max_s
        self.failures = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> Repeater:
        self._task = asyncio.create_task(self._run(), name=self.name)
        return self

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _sleep(self, seconds: float) -> None:
        if self.clock is not None:
            await self.clock.sleep(seconds)
        else:
            await asyncio.sleep(seconds)

    async def _run(self) -> None:
        delay = self.every_s
        while True:
            await self._sleep(delay)
            try:
                result = self.step()
                if inspect.isawaitable(result):
                    await result
            except asyncio.CancelledError:
                raise
            except Exception:
                self.failures += 1
                log.exception("%s failed (%d in a row); carrying on", self.name, self.failures)
                delay = min(self.backoff_max_s, self.every_s * 2 ** min(self.failures, 10))
                continue
            self.failures = 0
            delay = self.every_s
