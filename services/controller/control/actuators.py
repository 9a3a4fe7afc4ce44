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

`max_starts_per_hour` caps the starts in any sliding hour (a relay's life is counted
in operations): a start that would break it waits until the oldest start of that hour
is an hour old.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

HOUR_S = 3600.0


@dataclass(frozen=True)
class OutputTiming:
    window_s: float
    min_on_s: float = 0.0
    min_off_s: float = 0.0
    max_stretch: float = 3.0
    max_starts_per_hour: int = 0  # 0: no limit


class TimeProportionedOutput:
    def __init__(self, timing: OutputTiming, now: float) -> None:
        self.timing = timing
        self.on = False
        # After a (re)start we cannot know when a compressor last ran: assume just now,
        # so its minimum off time is respected across controller restarts.
        self.switched_at = now
        self.window_start: float | None = None  # while a window's on-pulse runs
        self.window_end: float | None = None  # while the rest of a window is off
        self.duty = 0.0
        self.starts = 0
        self.start_times: deque[float] = deque()  # starts within the last hour
        self.waiting: str | None = None  # why it is held off: stable text, no countdown
        self.waiting_until: float | None = None  # when that hold ends, if a timer is it

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

        Each window starts with its on-pulse and has only one: a duty that wobbles
        never adds relay cycles. While the pulse runs, a changed duty lengthens or
        shortens it; once it has ended, the output rests until the window is over.
        `allowed` False holds the output off (another output's dead time); it never
        cuts a running pulse short.
        """
        self.duty = duty
        self.waiting = None
        self.waiting_until = None
        t = self.timing
        on_time, length = self.plan(duty)
        if self.on:
            start = self.window_start if self.window_start is not None else self.switched_at
            earliest_off = self.switched_at + t.min_on_s
            if now - start < on_time:
                return max(start + on_time, earliest_off) if on_time != math.inf else None
            if now < earliest_off:
                return earliest_off
            self._switch(False, now)
            self.window_end = max(start + length, now + t.min_off_s)
            return self.window_end if duty > 0.0 else None
        if self.window_end is not None and now < self.window_end:
            return self.window_end if duty > 0.0 else None  # the rest of this window is off
        self.window_end = None
        self.window_start = None
        if on_time <= 0.0:
            return None
        earliest_on = self.switched_at + t.min_off_s
        if not allowed:
            self.waiting = "dead time between heating and cooling"
            return None
        limit = t.max_starts_per_hour
        while self.start_times and self.start_times[0] <= now - HOUR_S:
            self.start_times.popleft()
        if limit and len(self.start_times) >= limit:
            self.waiting = "starts per hour limit"
            self.waiting_until = self.start_times[-limit] + HOUR_S
            return self.waiting_until
        if now < earliest_on:
            # The countdown is `waiting_until`: text that changed every second would
            # make every state different (one database row a second in Home Assistant).
            self.waiting = "minimum off time"
            self.waiting_until = earliest_on
            return earliest_on
        self.window_start = now
        self._switch(True, now)
        return now + on_time if on_time != math.inf else None

    def force_off(self, now: float) -> None:
        """Off now, minimum on time or not (failsafe, mode off). Minimum off still applies."""
        self.duty = 0.0
        self.waiting = None
        self.waiting_until = None
        self.window_start = None
        self.window_end = None
        if self.on:
            self._switch(False, now)

    def went_off(self, now: float) -> None:
        """The output is off as of `now` whatever control last thought (a board's reset or
        watchdog, or a new session with a board that may have kept it on until now):
        off, and its minimum off time counts from `now`."""
        self.force_off(now)
        self.switched_at = max(self.switched_at, now)

    def _switch(self, on: bool, now: float) -> None:
        self.on = on
        self.switched_at = now
        if on:
            self.starts += 1
            self.start_times.append(now)
