"""Clocks for control code: real time in production, simulated time in tests.

Control logic never calls `time.time()` or `asyncio.sleep()` directly; it takes a
`Clock`, so a ten-day fermentation profile can run in seconds under `SimClock`.

A clock has two times. `now()` is wall time (the Unix epoch): for profile dates
and timestamps only, because NTP, fake-hwclock or a brewer may step it by hours.
`monotonic()` never jumps: every duration that protects equipment (relay windows,
minimum on/off, dead time, staleness, link timeouts) is measured on it, and
`sleep()` waits on it (docs/safety.md).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Awaitable, Callable
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Wall time, seconds since the Unix epoch (may step: dates and timestamps only)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never steps (durations); its zero means nothing."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` of this clock's time."""
        ...


class RealClock:
    """Wall-clock time."""

    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class SimClock:
    """Time that moves only when told to.

    `advance(dt)` moves time forward and wakes every sleeper whose deadline has
    passed, in deadline order, letting each run before time moves on. With
    `speed` set, `run()` advances it in real time × speed instead.

    `monotonic()` starts equal to `now()` (so simulated logs and switch records
    read as dates) and only `advance` moves it; `step_wall(s)` steps the wall time
    alone, as NTP or a brewer setting the clock would.
    """

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self._now = start  # the monotonic time: sleepers wake on it
        self._wall_offset = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self._now + self._wall_offset

    def monotonic(self) -> float:
        return self._now

    def step_wall(self, seconds: float) -> None:
        """Step the wall time by `seconds` (either way); durations and sleepers do not move."""
        self._wall_offset += seconds

    async def sleep(self, seconds: float) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + max(0.0, seconds), next(self._seq), fut))
        await fut

    async def advance(
        self, seconds: float, settle: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        """Move time forward by `seconds`, waking sleepers at their own deadlines.

        `settle`, if given, is awaited after each wake-up instead of a few bare
        event-loop turns: use it when woken tasks talk through real I/O (a pty, a
        socket) that must finish before simulated time may move on.
        """
        target = self._now + seconds  # the monotonic time to reach
        while self._sleepers and self._sleepers[0][0] <= target:
            deadline, _, fut = heapq.heappop(self._sleepers)
            self._now = max(self._now, deadline)
            if fut.done():
                continue  # a cancelled sleep: nobody to wake
            fut.set_result(None)
            # Let woken tasks run (and schedule new sleeps) before moving on.
            for _ in range(3):
                await asyncio.sleep(0)
            if settle is not None:
                await settle()
        self._now = target
        if settle is not None:
            await settle()

    def next_deadline(self) -> float | None:
        """When the earliest sleeper wakes, or None when nobody sleeps."""
        return self._sleepers[0][0] if self._sleepers else None

    async def run(
        self,
        speed: float,
        tick: float = 0.05,
        settle: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Advance forever at `speed` × real time (for the demo and benchmarks).

        `settle` as for `advance`: given, time never moves on while a line is still on
        its way, however slow the machine (at 30 × real time a serial round trip of
        100 ms is 3 simulated seconds: a board "not acknowledging", loss of control).
        """
        while True:
            await asyncio.sleep(tick)
            if settle is not None:
                await settle()  # what was sent since the last tick, before time moves on
            await self.advance(tick * speed, settle=settle)


class WallStepDetector:
    """Notices the wall clock stepping relative to the monotonic one.

    Call `check()` periodically; it returns the step in seconds (wall minus
    monotonic moved by more than `tolerance_s` since the last check), else None.
    """

    def __init__(self, clock: Clock, tolerance_s: float = 2.0) -> None:
        self.clock = clock
        self.tolerance_s = tolerance_s
        self._offset = clock.now() - clock.monotonic()

    def check(self) -> float | None:
        offset = self.clock.now() - self.clock.monotonic()
        step = offset - self._offset
        self._offset = offset
        return step if abs(step) > self.tolerance_s else None
