"""Downsampling keeps the true min and max of every bucket, whichever tier answers."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from pathlib import Path

import peewee
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from services.api.database import open_database
from services.api.history import query, tiers
from services.api.history.downsample import MINUTE_MS, plan_grid
from services.api.history.models import Sample, Series, create_tables

T0 = 1_795_000_020_000  # ms, deliberately not on a minute
HOURS = 3_600_000

_ids = itertools.count()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[peewee.Database]:
    path: Path = tmp_path_factory.mktemp("downsample") / "history.db"
    db = open_database(f"sqlite:///{path}")
    create_tables(db)
    yield db
    db.close()


@st.composite
def histories(draw: st.DrawFn) -> tuple[dict[int, float | None], int, int, int]:
    """Samples over half an hour or six hours, a range around them (ms offsets), and how
    many minutes of them are rolled up."""
    scale = draw(st.sampled_from([30 * MINUTE_MS, 6 * HOURS]))
    # Times spread over the whole scale (plain integer strategies crowd near zero), with
    # repeated values, nulls (sensor lost) and extremes.
    rnd = draw(st.randoms(use_true_random=False))
    count = rnd.randint(0, 300)
    values = st.one_of(
        st.none(),
        st.sampled_from([20.0, 20.0625, -127.0, 85.0]),
        st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False),
    )
    samples = {rnd.randint(0, scale): draw(values) for _ in range(count)}
    start = rnd.randint(-scale // 6, scale)
    length = rnd.randint(1, scale + scale // 6)
    rolled_minutes = rnd.randint(0, scale // MINUTE_MS + 1)
    return samples, start, length, rolled_minutes


def _store(samples: dict[int, float | None], rolled: int, pruned: int) -> str:
    """A series holding `samples`, rolled up before `rolled`, raw samples gone before `pruned`."""
    name = f"sensor/prop/{next(_ids)}"
    series = Series.create(name=name, kind="sensor", unit="°C")
    rows = [(series.id, T0 + t, v) for t, v in sorted(samples.items())]
    for chunk in peewee.chunked(rows, 500):
        Sample.insert_many(chunk, fields=[Sample.series_id, Sample.ts, Sample.value]).execute()
    first = tiers.minute_of(T0)
    if rolled > first:
        tiers.roll_up(series.id, first, rolled)
    tiers.delete_raw(series.id, 0, pruned)
    Series.update(rolled_ms=rolled, pruned_ms=pruned, last_ms=T0 + max(samples, default=0)).where(
        Series.id == series.id
    ).execute()
    return name


def _check(
    name: str, samples: dict[int, float | None], start_ms: int, end_ms: int, points: int
) -> None:
    got = query.read_series(name, start_ms / 1000, end_ms / 1000, points)
    event(
        "as stored"
        if got.bucket_s == 0
        else "whole-minute buckets"
        if got.bucket_s % 60 == 0
        else "sub-minute buckets"
    )
    truth = {T0 + t: v for t, v in samples.items()}
    assert len(got.t) <= points
    if got.bucket_s == 0:
        expected = sorted((t, v) for t, v in truth.items() if start_ms <= t < end_ms)
        assert [(round(t * 1000), v) for t, v in zip(got.t, got.avg, strict=True)] == expected
        return
    width = round(got.bucket_s * 1000)
    grid = plan_grid(start_ms, end_ms, points)
    assert width == grid.width_ms
    for t, mn, avg, mx, n in zip(got.t, got.min, got.avg, got.max, got.count, strict=True):
        lo = round(t * 1000)
        inside = [v for ts, v in truth.items() if lo <= ts < lo + width and ts < end_ms]
        values = [v for v in inside if v is not None]
        assert (mn, mx, n) == (min(values), max(values), len(values)), f"bucket at {lo}"
        assert math.isclose(avg, sum(values) / len(values), rel_tol=1e-9, abs_tol=1e-9)
    # Every stored value in the range is in some bucket.
    in_range = [v for ts, v in truth.items() if grid.start_ms <= ts < end_ms and v is not None]
    assert sum(got.count) == len(in_range)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    history=histories(),
    points=st.integers(1, 50),
)
def test_every_bucket_keeps_the_true_min_and_max(
    store: peewee.Database, history: tuple[dict[int, float | None], int, int, int], points: int
) -> None:
    """Raw samples and 1-minute rollups (complete up to any minute) give the same answer."""
    samples, start, length, rolled_minutes = history
    rolled = tiers.minute_of(T0) + rolled_minutes * MINUTE_MS
    name = _store(samples, rolled, pruned=0)
    _check(name, samples, T0 + start, T0 + start + length, points)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    history=histories(),
    pruned_fraction=st.floats(0, 1),
    points=st.integers(1, 400),
)
def test_retired_raw_samples_still_answer_through_their_rollups(
    store: peewee.Database,
    history: tuple[dict[int, float | None], int, int, int],
    pruned_fraction: float,
    points: int,
) -> None:
    """Once the raw tier is gone, buckets of a minute or more still have exact extremes."""
    samples, start, length, rolled_minutes = history
    rolled = tiers.minute_of(T0) + rolled_minutes * MINUTE_MS
    pruned = tiers.minute_of(T0) + round(rolled_minutes * pruned_fraction) * MINUTE_MS
    name = _store(samples, rolled, pruned)
    length = max(length, points * MINUTE_MS)  # a minute or more per bucket
    # Where only rollups remain, a range ends on a whole minute.
    end = tiers.minute_of(T0 + start + length) + MINUTE_MS
    _check(name, samples, T0 + start, end, points)


@given(start=st.integers(0, 10**13), length=st.integers(1, 10**11), points=st.integers(1, 10**4))
def test_the_grid_covers_the_range_in_at_most_n_buckets(
    start: int, length: int, points: int
) -> None:
    grid = plan_grid(start, start + length, points)
    assert 1 <= grid.count <= points
    assert grid.start_ms <= start
    assert grid.start_ms + grid.count * grid.width_ms >= start + length
    assert grid.index(start + length - 1) == grid.count - 1
    if length >= points * MINUTE_MS:
        assert grid.minute_aligned
