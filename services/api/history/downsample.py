"""Server-side downsampling that keeps a curve's shape: min, average and max per bucket.

A range is cut into at most N equal buckets; each bucket reports the true
minimum and maximum of the samples in it (so a one-second spike survives a
month-long chart) and their mean. When a bucket is a whole number of minutes,
aligned to the minute, the 1-minute rollups nest in it exactly, so the same
answer comes from 60× fewer rows.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

SECOND_MS = 1_000
MINUTE_MS = 60_000


@dataclass(frozen=True)
class Grid:
    """Buckets `[start + i·width, start + (i+1)·width)` for i in 0..count-1 (ms)."""

    start_ms: int
    width_ms: int
    count: int

    @property
    def minute_aligned(self) -> bool:
        """Whether 1-minute rollups nest exactly in these buckets."""
        return self.start_ms % MINUTE_MS == 0 and self.width_ms % MINUTE_MS == 0

    def index(self, ts_ms: int) -> int:
        return (ts_ms - self.start_ms) // self.width_ms

    def bucket_start(self, index: int) -> int:
        return self.start_ms + index * self.width_ms


def plan_grid(start_ms: int, end_ms: int, points: int) -> Grid:
    """At most `points` buckets covering `[start_ms, end_ms)`.

    Buckets a minute or wider are whole minutes with a minute-aligned start (the
    range is widened down to its minute), so rollups can answer them; narrower
    ones longer than a second are whole seconds.
    """
    if points < 1 or end_ms <= start_ms:
        raise ValueError("need points >= 1 and end > start")
    span = end_ms - start_ms
    if span / points >= MINUTE_MS:
        start_ms -= start_ms % MINUTE_MS
        span = end_ms - start_ms
        width = math.ceil(span / points / MINUTE_MS) * MINUTE_MS
    else:
        width = max(1, math.ceil(span / points))
        if width > SECOND_MS:
            width = math.ceil(width / SECOND_MS) * SECOND_MS  # whole seconds read better
    return Grid(start_ms, width, math.ceil(span / width))


@dataclass
class Bucket:
    """Running aggregate of one bucket; `total / n` is the mean."""

    index: int
    min: float
    max: float
    total: float
    n: int

    @property
    def avg(self) -> float:
        return self.total / self.n

    def merge(self, other: Bucket) -> None:
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)
        self.total += other.total
        self.n += other.n


def downsample(samples: Iterable[tuple[int, float | None]], grid: Grid) -> list[Bucket]:
    """Bucket `(ts_ms, value)` samples (nulls skipped) in index order; the reference version."""
    buckets: dict[int, Bucket] = {}
    for ts, value in samples:
        if value is None:
            continue
        i = grid.index(ts)
        if not 0 <= i < grid.count:
            continue
        b = buckets.get(i)
        if b is None:
            buckets[i] = Bucket(i, value, value, value, 1)
        else:
            b.merge(Bucket(i, value, value, value, 1))
    return [buckets[i] for i in sorted(buckets)]


def merge_buckets(*parts: Iterable[Bucket]) -> list[Bucket]:
    """Combine partial aggregates of the same grid (e.g. rollup tier + raw tier)."""
    merged: dict[int, Bucket] = {}
    for part in parts:
        for b in part:
            have = merged.get(b.index)
            if have is None:
                merged[b.index] = Bucket(b.index, b.min, b.max, b.total, b.n)
            else:
                have.merge(b)
    return [merged[i] for i in sorted(merged)]
