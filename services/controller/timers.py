"""A re-armable one-shot timer on a `Clock`: one per loop, for relay switching times.

Times are the clock's monotonic time: a wall-clock step moves no relay."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from services.common.clock import Clock

log = logging.getLogger(__name__)


class Timer:
    def __init__(self, clock: Clock, callback: Callable[[], None], name: str = "timer") -> None:
        self.clock = clock
        self.callback = callback
        self.name = name
        self.when: float | None = None
        self._task: asyncio.Task[None] | None = None

    def at(self, when: float | None) -> None:
        """Call back at `when` (monotonic clock time), replacing any earlier request; None cancels."""
        if when == self.when:
            return
        self.cancel()
        self.when = when
        if when is not None:
            self._task = asyncio.get_running_loop().create_task(self._fire(when), name=self.name)

    def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        self.when = None

    async def _fire(self, when: float) -> None:
        await self.clock.sleep(max(0.0, when - self.clock.monotonic()))
        self._task = None
        self.when = None
        try:
            self.callback()
        except Exception:
            log.exception("%s failed", self.name)
