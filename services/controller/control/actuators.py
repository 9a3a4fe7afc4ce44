"""Duty cycles → relay switching: time-proportioning windows with minimum on/off times.

A relay cannot be 37 % on; it can be on for 37 % of a window. For a heater SSR the
window is seconds. For a compressor it is many minutes, and the compressor also
needs minimum on and off times (oil return, pressure equalisation) — those are
never broken by control, only by a failsafe `force_off`, which may cut an on-time
short but never shortens an off-time.

When a minimum time would distort the duty (5 % of 30 min is 90 s, but the
compressor must run 180 s), the window stretches so the average stays right:
on 180 s, off 3420 s. A window never stretches beyond `max_stretch` × its length;
a duty that would need more is rounded to off (too small to matter) or on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class OutputTiming:
    window_s: float
    min_on_s: float = 0.0
    min_off_s: float = 0.0
    max_stretch: float = 3.0


class TimeProportionedOutput:
    def __init__(self, timing: OutputTiming, now: float) -> None:
        self.timing = timing
        self.on = False
        # After a (re)start we cannot know when a compressor last ran: assume just now,
        # so its minimum off time is respected across controller restarts.
        self.switched_at = now
        self.window_start: float | None = None
        self.duty = 0.0
        self.starts = 0
        self.waiting: str | None = None

    def plan(self, duty: float) -> tuple[float, float]:
        """(on-time, window length) for `duty`, stretched for the minimum times."""
        t = self.timing
        if duty <= 0.0:
            return 0.0, t.window_s
        if duty >= 1.0:
            return math.inf, math.inf
        on = max(duty * t.window_s, t.min_on_s, t.min_off_s * duty / (1.0 - duty))
        length = on / duty
        if length > t.max_stretch * t.window_s:
            return (0.0, t.window_s) if duty < 0.5 else (math.inf, math.inf)
        return on, length

    def update(self, now: float, duty: float, allowed: bool = True) -> float | None:
        """Switch as `duty` (0..1) asks; returns when to look again (None: nothing pending).

        `allowed` False holds the output off (another output's dead time); it does
        not cut a running on-time short.
        """
        self.duty = duty
        self.waiting = None
        t = self.timing
        on_time, length = self.plan(duty)
        if self.on:
            start = self.window_start if self.window_start is not None else self.switched_at
            earliest_off = self.switched_at + t.min_on_s
            if now - start >= on_time:
                if now >= earliest_off:
                    self._switch(False, now)
                    return self._next_off_phase(now, duty)
                return earliest_off
            return max(start + on_time, earliest_off) if on_time != math.inf else None
        # off
        if on_time <= 0.0:
            self.window_start = None
            return None
        if self.window_start is None or now - self.window_start >= length:
            self.window_start = now  # a new window starts when there is something to do
        elapsed = now - self.window_start
        if elapsed >= on_time:
            return self.window_start + length
        earliest_on = self.switched_at + t.min_off_s
        if not allowed:
            self.waiting = "dead time between heating and cooling"
            self.window_start = None
            return None
        if now < earliest_on:
            self.waiting = f"minimum off time ({earliest_on - now:.0f} s left)"
            self.window_start = None  # the window begins when the output may switch on
            return earliest_on
        self._switch(True, now)
        return self.window_start + on_time if on_time != math.inf else None

    def _next_off_phase(self, now: float, duty: float) -> float | None:
        if duty <= 0.0:
            self.window_start = None
            return None
        _, length = self.plan(duty)
        start = self.window_start if self.window_start is not None else now
        return max(start + length, now + self.timing.min_off_s)

    def force_off(self, now: float) -> None:
        """Off now, minimum on time or not (failsafe, mode off). Minimum off still applies."""
        self.duty = 0.0
        self.waiting = None
        self.window_start = None
        if self.on:
            self._switch(False, now)

    def _switch(self, on: bool, now: float) -> None:
        self.on = on
        self.switched_at = now
        if on:
            self.starts += 1
