"""The storage tiers' SQL: 1-minute rollups from raw samples, and deletion by age.

Plain peewee (integer arithmetic, MIN/AVG/MAX/COUNT), so SQLite and PostgreSQL
run the same statements. Callers hold the transaction.
"""

from __future__ import annotations

import peewee
from peewee import fn

from .downsample import MINUTE_MS
from .models import LogEntry, Rollup, Sample

DAY_MS = 86_400_000


def insert_samples(rows: list[tuple[int, int, float | None]]) -> None:
    """Insert (series_id, ts_ms, value) rows, skipping ones already stored.

    The statement is peewee's; executemany runs it without building one SQL
    string per row, which is most of the cost of a large batch.
    """
    if not rows:
        return
    db = Sample._meta.database
    sql, _ = (
        db.get_sql_context()
        .sql(Sample.insert(series_id=0, ts=0, value=0.0).on_conflict_ignore())
        .query()
    )
    with peewee.__exception_wrapper__:
        db.cursor().executemany(sql, rows)


def minute_of(ts_ms: int) -> int:
    return ts_ms - ts_ms % MINUTE_MS


def roll_up(series_id: int, lo_ms: int, hi_ms: int) -> None:
    """(Re)compute the rollups of the minutes in `[lo_ms, hi_ms)` (both minute-aligned)."""
    Rollup.delete().where(
        (Rollup.series_id == series_id) & (Rollup.ts >= lo_ms) & (Rollup.ts < hi_ms)
    ).execute()
    minute = (Sample.ts / MINUTE_MS) * MINUTE_MS
    query = (
        Sample.select(
            Sample.series_id,
            minute,
            fn.MIN(Sample.value),
            fn.AVG(Sample.value),
            fn.MAX(Sample.value),
            fn.COUNT(Sample.value),
        )
        .where(Sample.in_range(series_id, lo_ms, hi_ms) & Sample.value.is_null(False))
        .group_by(Sample.series_id, minute)
    )
    Rollup.insert_from(
        query, [Rollup.series_id, Rollup.ts, Rollup.min, Rollup.avg, Rollup.max, Rollup.n]
    ).execute()


def first_raw_ms(series_id: int) -> int | None:
    return Sample.select(fn.MIN(Sample.ts)).where(Sample.series_id == series_id).scalar()


def first_rollup_ms(series_id: int) -> int | None:
    return Rollup.select(fn.MIN(Rollup.ts)).where(Rollup.series_id == series_id).scalar()


def delete_raw(series_id: int, lo_ms: int, hi_ms: int) -> int:
    """Delete raw samples in `[lo_ms, hi_ms)`; how many went."""
    query = Sample.delete().where(Sample.in_range(series_id, lo_ms, hi_ms))
    return _rowcount(query)


def delete_rollups_before(series_id: int, ts_ms: int) -> int:
    query = Rollup.delete().where((Rollup.series_id == series_id) & (Rollup.ts < ts_ms))
    return _rowcount(query)


def delete_logs_before(ts: float) -> int:
    return _rowcount(LogEntry.delete().where(LogEntry.ts < ts))


def delete_logs_beyond(keep: int) -> int:
    """Delete all but the newest `keep` log records (ids grow with arrival)."""
    newest = LogEntry.select(LogEntry.id).order_by(LogEntry.id.desc())
    cutoff = newest.offset(keep).limit(1).scalar()
    if cutoff is None:
        return 0
    return _rowcount(LogEntry.delete().where(LogEntry.id <= cutoff))


def _rowcount(query: peewee.Delete) -> int:
    result = query.execute()
    return int(result or 0)
