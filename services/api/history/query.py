"""Reading history back: downsampled series, the series list, CSV rows, alarms, logs.

Synchronous peewee; the routes run these on reader threads. Aggregation happens
in SQL (one row per bucket comes back, not one per sample), from the 1-minute
rollups where they answer the question exactly and from raw samples elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from peewee import SQL, fn

from . import tiers
from .downsample import Bucket, Grid, merge_buckets, plan_grid
from .models import AlarmRecord, Annotation, Event, LogEntry, Rollup, Sample, Series

EXPORT_PAGE = 10_000


@dataclass
class SeriesData:
    name: str
    unit: str = ""
    kind: str = ""
    bucket_s: float = 0.0  # 0: the samples as stored
    t: list[float] = field(default_factory=list)
    min: list[float | None] = field(default_factory=list)
    avg: list[float | None] = field(default_factory=list)
    max: list[float | None] = field(default_factory=list)
    count: list[int] = field(default_factory=list)


def _ms(ts: float) -> int:
    return round(ts * 1000)


def known_series() -> list[str]:
    return [name for (name,) in Series.select(Series.name).order_by(Series.name).tuples()]


def _raw_buckets(series_id: int, lo_ms: int, hi_ms: int, grid: Grid) -> list[Bucket]:
    """Aggregate raw samples with `lo_ms <= ts < hi_ms` into the grid's buckets."""
    if lo_ms >= hi_ms:
        return []
    index = (Sample.ts - grid.start_ms) / grid.width_ms
    query = (
        Sample.select(
            index,
            fn.MIN(Sample.value),
            fn.MAX(Sample.value),
            fn.SUM(Sample.value),
            fn.COUNT(Sample.value),
        )
        .where(Sample.in_range(series_id, lo_ms, hi_ms) & Sample.value.is_null(False))
        .group_by(SQL("1"))
        .tuples()
    )
    return [Bucket(int(i), mn, mx, total, n) for i, mn, mx, total, n in query]


def _rollup_buckets(series_id: int, lo_ms: int, hi_ms: int, grid: Grid) -> list[Bucket]:
    """Aggregate 1-minute rollups whose minute starts in `[lo_ms, hi_ms)` into the grid."""
    if lo_ms >= hi_ms:
        return []
    index = (Rollup.ts - grid.start_ms) / grid.width_ms
    query = (
        Rollup.select(
            index,
            fn.MIN(Rollup.min),
            fn.MAX(Rollup.max),
            fn.SUM(Rollup.avg * Rollup.n),
            fn.SUM(Rollup.n),
        )
        .where((Rollup.series_id == series_id) & (Rollup.ts >= lo_ms) & (Rollup.ts < hi_ms))
        .group_by(SQL("1"))
        .tuples()
    )
    return [Bucket(int(i), mn, mx, total, int(n)) for i, mn, mx, total, n in query]


def read_series(name: str, start: float, end: float, points: int) -> SeriesData:
    """At most `points` values of `name` over `[start, end)`, each bucket's true min and max kept.

    When the range holds no more than `points` stored samples they come back as
    they are (`bucket_s` 0). Otherwise each value summarises one bucket of
    `bucket_s` seconds starting at `t`.
    """
    row = Series.get_or_none(Series.name == name)
    data = SeriesData(name)
    if row is None:
        return data
    data.unit, data.kind = row.unit, row.kind
    start_ms, end_x = _ms(start), _ms(end)
    grid = plan_grid(start_ms, end_x, points)
    if grid.minute_aligned:
        # Rollups are complete before `rolled_ms`, raw samples are all there after it.
        split = min(max(row.rolled_ms, grid.start_ms), end_x)
        cut = tiers.minute_of(end_x)  # the minute `end` cuts short, if any
        if split > cut >= row.pruned_ms:
            split = cut  # raw samples answer it exactly: nothing after `end` shows
        rollups = _rollup_buckets(row.id, grid.start_ms, split, grid)
        raws = _raw_buckets(row.id, split, end_x, grid)
    else:
        # Raw samples where they are kept; rollups only where retention retired them.
        split = min(max(row.pruned_ms, start_ms), end_x)
        if split == start_ms:
            stored = _raw_samples(row.id, start_ms, end_x, points + 1)
            if len(stored) <= points:
                return _as_stored(data, stored)
        rollups = _rollup_buckets(row.id, start_ms, split, grid)
        raws = _raw_buckets(row.id, split, end_x, grid)
    data.bucket_s = grid.width_ms / 1000
    for b in merge_buckets(rollups, raws):
        data.t.append(grid.bucket_start(b.index) / 1000)
        data.min.append(b.min)
        data.avg.append(b.avg)
        data.max.append(b.max)
        data.count.append(b.n)
    return data


def _raw_samples(
    series_id: int, lo_ms: int, hi_ms: int, limit: int
) -> list[tuple[int, float | None]]:
    return list(
        Sample.select(Sample.ts, Sample.value)
        .where(Sample.in_range(series_id, lo_ms, hi_ms))
        .order_by(Sample.ts)
        .limit(limit)
        .tuples()
    )


def _as_stored(data: SeriesData, stored: list[tuple[int, float | None]]) -> SeriesData:
    for ts, value in stored:
        data.t.append(ts / 1000)
        data.min.append(value)
        data.avg.append(value)
        data.max.append(value)
        data.count.append(0 if value is None else 1)
    return data


def series_list() -> list[dict[str, object]]:
    """Every known series with the time of its first and last stored value and its count."""
    out = []
    for row in Series.select().order_by(Series.name):
        first = tiers.first_raw_ms(row.id)
        if row.pruned_ms:
            first_rollup = tiers.first_rollup_ms(row.id)
            if first_rollup is not None and first_rollup < row.pruned_ms:
                first = first_rollup  # the oldest raw samples are retired; their rollups remain
        out.append(
            {
                "name": row.name,
                "kind": row.kind,
                "unit": row.unit,
                "first": first / 1000 if first is not None else None,
                "last": row.last_ms / 1000 if row.last_ms is not None else None,
                "count": row.count,
            }
        )
    return out


# --- CSV export ---------------------------------------------------------------------------

ExportRow = tuple[float, str, str, float | None, float | None, float | None]
"""(ts, series, unit, value, min, max); min and max only for rollup rows."""


def export_pages(names: list[str], start: float, end: float) -> Iterator[list[ExportRow]]:
    """Stored data of each series in turn, oldest first, in pages (call next() on a reader thread).

    Where raw samples have been retired, the 1-minute rollups stand in (value = average).
    """
    start_ms, end_x = _ms(start), _ms(end)
    for name in names:
        row = Series.get_or_none(Series.name == name)
        if row is None:
            continue
        split = min(max(row.pruned_ms, start_ms), end_x)
        after = start_ms - 1
        while True:
            rollups = list(
                Rollup.select(Rollup.ts, Rollup.avg, Rollup.min, Rollup.max)
                .where((Rollup.series_id == row.id) & (Rollup.ts > after) & (Rollup.ts < split))
                .order_by(Rollup.ts)
                .limit(EXPORT_PAGE)
                .tuples()
            )
            if not rollups:
                break
            yield [(ts / 1000, name, row.unit, avg, mn, mx) for ts, avg, mn, mx in rollups]
            after = rollups[-1][0]
        after = split - 1
        while True:
            raws = _raw_samples(row.id, after + 1, end_x, EXPORT_PAGE)
            if not raws:
                break
            yield [(ts / 1000, name, row.unit, value, None, None) for ts, value in raws]
            after = raws[-1][0]


# --- events, alarms, logs, annotations ----------------------------------------------------


def events(
    start: float, end: float, loop: str | None, kind: str | None, limit: int
) -> list[dict[str, object]]:
    query = Event.select().where((Event.ts >= start) & (Event.ts < end))
    if loop:
        query = query.where(Event.loop == loop)
    if kind:
        query = query.where(Event.kind == kind)
    return [
        {"ts": e.ts, "loop": e.loop, "kind": e.kind, "value": e.value}
        for e in query.order_by(Event.ts, Event.id).limit(limit)
    ]


def alarm_history(
    start: float,
    end: float,
    *,
    state: str | None = None,
    event: str | None = None,
    alarm: str | None = None,
    source: str | None = None,
    limit: int = 500,
) -> list[dict[str, object]]:
    """Alarm lifecycle records, newest first."""
    query = AlarmRecord.select().where((AlarmRecord.ts >= start) & (AlarmRecord.ts < end))
    if state:
        query = query.where(AlarmRecord.state == state)
    if event:
        query = query.where(AlarmRecord.event == event)
    if alarm:
        query = query.where(AlarmRecord.alarm_id == alarm)
    if source:
        query = query.where(AlarmRecord.source == source)
    return [
        {
            "ts": r.ts,
            "id": r.alarm_id,
            "event": r.event,
            "state": r.state,
            "acknowledged": r.acknowledged,
            "acknowledged_by": r.acknowledged_by,
            "severity": r.severity,
            "kind": r.kind,
            "source": r.source,
            "message": r.message,
            "raised_at": r.raised_at,
            "cleared_at": r.cleared_at,
            "acknowledged_at": r.acknowledged_at,
        }
        for r in query.order_by(AlarmRecord.ts.desc(), AlarmRecord.id.desc()).limit(limit)
    ]


def alarm_occurrences(limit: int = 50, scan: int = 5000) -> list[dict[str, object]]:
    """Each occurrence of each alarm (an id and its raise time) as it last stood, newest
    raised first: its final state, who acknowledged and when, when it cleared."""
    latest: dict[tuple[str, float], dict[str, object]] = {}
    rows = AlarmRecord.select().order_by(AlarmRecord.id.desc()).limit(scan)
    for r in rows:
        key = (r.alarm_id, r.raised_at or 0.0)
        if key in latest:
            continue  # an older change of an occurrence already seen at its latest
        latest[key] = {
            "id": r.alarm_id,
            "message": r.message,
            "kind": r.kind,
            "severity": r.severity,
            "source": r.source,
            "state": r.state,
            "acknowledged": r.acknowledged,
            "acknowledged_by": r.acknowledged_by,
            "raised_at": r.raised_at or 0.0,
            "cleared_at": r.cleared_at,
            "acknowledged_at": r.acknowledged_at,
            "ts": r.ts,
            "removed": r.event == "removed",
        }
    ordered = sorted(latest.values(), key=lambda o: (o["raised_at"], o["ts"]), reverse=True)
    return ordered[:limit]


def log_history(
    start: float, end: float, min_level: int, source: str | None, limit: int
) -> list[tuple[float, int, str, str]]:
    """(ts, level, source, message), newest first."""
    query = LogEntry.select(LogEntry.ts, LogEntry.level, LogEntry.source, LogEntry.message).where(
        (LogEntry.ts >= start) & (LogEntry.ts < end) & (LogEntry.level >= min_level)
    )
    if source:
        query = query.where(LogEntry.source == source)
    return list(query.order_by(LogEntry.ts.desc(), LogEntry.id.desc()).limit(limit).tuples())


def annotation_dict(a: Annotation) -> dict[str, object]:
    return {"id": a.id, "ts": a.ts, "text": a.text, "loop": a.loop, "created_at": a.created_at}


def annotations(start: float, end: float, loop: str | None) -> list[dict[str, object]]:
    query = Annotation.select().where((Annotation.ts >= start) & (Annotation.ts < end))
    if loop:
        query = query.where((Annotation.loop == loop) | Annotation.loop.is_null())
    return [annotation_dict(a) for a in query.order_by(Annotation.ts, Annotation.id)]


def add_annotation(ts: float, text: str, loop: str | None, now: float) -> dict[str, object]:
    return annotation_dict(Annotation.create(ts=ts, text=text, loop=loop, created_at=now))


def delete_annotation(annotation_id: int) -> bool:
    return bool(Annotation.delete().where(Annotation.id == annotation_id).execute())
