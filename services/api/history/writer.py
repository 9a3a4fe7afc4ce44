"""The history writer: batches in, one transaction out. Runs on one thread only.

It decides what to keep (store on change beyond the dead band, plus a
heartbeat, plus the last held value before a change, so a step stays a step on
a chart), records alarm lifecycle changes and loop events once each, and looks
after the tiers (1-minute rollups, retention). Its in-memory view of each series
changes only after the transaction that justifies it has committed, so a failed
write can simply be retried with the same batch.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import peewee
from peewee import chunked

from services.common.schema.alarms import Alarm, AlarmState

from . import tiers
from .downsample import MINUTE_MS
from .models import AlarmRecord, Event, LogEntry, Sample, Series, create_tables
from .settings import HistorySettings

ROLLUP_GRACE_MS = 5_000
"""A minute with no newer sample is rolled up this long after it ends (late stragglers)."""
MAINTENANCE_SLICE_MS = 3_600_000
"""Rollups and deletions work an hour of a series at a time, so writes interleave."""
INSERT_CHUNK = 2_000
_NOTHING_YET = "\0nothing recorded yet"
"""Stands for "no event of this kind yet", distinct from a recorded null value."""


# --- what a batch carries -----------------------------------------------------------


class SampleIn(NamedTuple):
    series: str
    kind: str
    unit: str
    ts: float
    value: float | None


class EventIn(NamedTuple):
    loop: str
    kind: str
    value: str | None
    ts: float


class AlarmIn(NamedTuple):
    alarm_id: str
    alarm: Alarm | None  # None: removed (empty retained payload)
    ts: float  # when received


class LogIn(NamedTuple):
    ts: float
    level: int
    source: str
    message: str


@dataclass
class Batch:
    samples: list[SampleIn] = field(default_factory=list)
    events: list[EventIn] = field(default_factory=list)
    alarms: list[AlarmIn] = field(default_factory=list)
    logs: list[LogIn] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.samples) + len(self.events) + len(self.alarms) + len(self.logs)

    def prepend(self, older: Batch) -> None:
        """Put a batch that could not be written back in front of this one."""
        self.samples[:0] = older.samples
        self.events[:0] = older.events
        self.alarms[:0] = older.alarms
        self.logs[:0] = older.logs


# --- per-series recording state -----------------------------------------------------


@dataclass
class SeriesState:
    id: int
    name: str
    unit: str
    last_ms: int | None = None  # newest stored sample
    last_value: float | None = None
    held: tuple[int, float | None] | None = None  # newest received, not stored (within band)
    rolled_ms: int = 0


def keep(
    state: SeriesState, ts_ms: int, value: float | None, deadband: float, heartbeat_ms: int
) -> list[tuple[int, float | None]]:
    """Which samples to store for a reading arriving in order; updates `state`."""
    last = state.last_ms
    if last is not None and ts_ms <= last:
        return []  # a repeat (retained re-delivery) or older than what is stored
    if last is None:
        changed = True
    elif value is None or state.last_value is None:
        changed = (value is None) != (state.last_value is None)
    elif deadband > 0:
        changed = abs(value - state.last_value) > deadband
    else:
        changed = value != state.last_value
    if not changed and ts_ms - last < heartbeat_ms:  # type: ignore[operator]
        state.held = (ts_ms, value)
        return []
    out: list[tuple[int, float | None]] = []
    if changed and state.held is not None:
        out.append(state.held)  # the value held right up to the change
    out.append((ts_ms, value))
    state.held = None
    state.last_ms, state.last_value = ts_ms, value
    return out


def to_ms(ts: float) -> int:
    return round(ts * 1000)


def _finite(value: float | None) -> float | None:
    return value if value is None or math.isfinite(value) else None


# --- alarms ---------------------------------------------------------------------------

_ALARM_FIELDS = (
    "state",
    "acknowledged",
    "acknowledged_by",
    "severity",
    "kind",
    "source",
    "message",
)


def _alarm_snapshot(alarm: Alarm) -> tuple[object, ...]:
    return tuple(str(getattr(alarm, f)) for f in _ALARM_FIELDS)


def _record_snapshot(row: AlarmRecord) -> tuple[object, ...]:
    return tuple(str(getattr(row, f)) for f in _ALARM_FIELDS)


def alarm_events(previous: Alarm | None, current: Alarm | None) -> list[str]:
    """What happened between two records of one alarm (ISA-18.2 lifecycle)."""
    if current is None:
        return ["removed"] if previous is not None else []
    if previous is None:
        return ["raised"]
    events = []
    if previous.state == AlarmState.cleared and current.state == AlarmState.active:
        events.append("raised")
    if current.acknowledged and not previous.acknowledged:
        events.append("acknowledged")
    if previous.state == AlarmState.active and current.state == AlarmState.cleared:
        events.append("cleared")
    if not events and _alarm_snapshot(previous) != _alarm_snapshot(current):
        events.append("updated")
    return events


def _event_time(alarm: Alarm | None, event: str, received: float) -> float:
    if alarm is None:
        return received
    when = {
        "raised": alarm.raised_at if alarm.state == AlarmState.active else alarm.ts,
        "acknowledged": alarm.acknowledged_at,
        "cleared": alarm.cleared_at,
    }.get(event, alarm.ts)
    return when or alarm.ts or received


# --- the writer -------------------------------------------------------------------------


@dataclass
class _Staged:
    """Changes to the writer's view, applied once their transaction commits."""

    series: dict[str, SeriesState] = field(default_factory=dict)
    events: dict[tuple[str, str], str | None] = field(default_factory=dict)
    alarms: dict[str, Alarm | None] = field(default_factory=dict)


@dataclass
class WriteResult:
    samples: int = 0  # raw samples stored
    events: int = 0
    alarms: int = 0
    logs: int = 0


class HistoryWriter:
    """Owns every write to the history tables. Call it from one thread only."""

    def __init__(self, db: peewee.Database, settings: Callable[[], HistorySettings]) -> None:
        self._db = db
        self._settings = settings
        self._series: dict[str, SeriesState] = {}
        self._events: dict[tuple[str, str], str | None] = {}
        self._alarms: dict[str, Alarm | None] = {}
        self.stored = 0  # raw samples stored since start
        self._logs_unchecked = 0  # log records stored since the size bound was last checked

    def prepare(self) -> None:
        create_tables(self._db)

    def close(self) -> None:
        self._db.close()

    # samples, events, alarms, logs ----------------------------------------------------
    def write(self, batch: Batch, final: bool = False) -> WriteResult:
        """Store a batch in one transaction; `final` also stores values held back by the dead band."""
        result = WriteResult()
        staged = _Staged()
        with self._db.atomic():
            result.samples = self._write_samples(batch.samples, staged, final)
            result.events = self._write_events(batch.events, staged.events)
            result.alarms = self._write_alarms(batch.alarms, staged.alarms)
            for chunk in chunked(batch.logs, INSERT_CHUNK):
                LogEntry.insert_many(
                    [(x.ts, x.level, x.source, x.message) for x in chunk],
                    fields=[LogEntry.ts, LogEntry.level, LogEntry.source, LogEntry.message],
                ).execute()
            result.logs = len(batch.logs)
            self._trim_logs(len(batch.logs))
        # Committed: now the in-memory view may move on.
        self._series.update(staged.series)
        self._events.update(staged.events)
        self._alarms.update(staged.alarms)
        self.stored += result.samples
        return result

    def _write_samples(self, samples: list[SampleIn], staged: _Staged, final: bool) -> int:
        settings = self._settings()
        heartbeat_ms = round(settings.heartbeat_s * 1000)
        bands: dict[str, float] = {}
        rows: list[tuple[int, int, float | None]] = []
        late: list[tuple[SeriesState, int, float | None]] = []
        added: dict[str, int] = {}
        renamed_units: set[str] = set()
        for s in samples:
            state = staged.series.get(s.series)
            if state is None:
                state = dataclasses.replace(self._state(s.series, s.kind, s.unit))
                staged.series[s.series] = state
                bands[s.series] = settings.deadband_for(s.series)
            if s.unit and s.unit != state.unit:
                state.unit = s.unit
                renamed_units.add(s.series)
            ts_ms, value = to_ms(s.ts), _finite(s.value)
            if state.last_ms is not None and ts_ms < state.last_ms:
                late.append((state, ts_ms, value))
                continue
            kept = keep(state, ts_ms, value, bands[s.series], heartbeat_ms)
            if kept:
                rows.extend((state.id, t, v) for t, v in kept)
                added[s.series] = added.get(s.series, 0) + len(kept)
        if final:  # a clean shutdown: store what the dead band held back
            for name, current in self._series.items():
                staged.series.setdefault(name, dataclasses.replace(current))
            for state in staged.series.values():
                if state.held is not None:
                    t, v = state.held
                    rows.append((state.id, t, v))
                    added[state.name] = added.get(state.name, 0) + 1
                    state.last_ms, state.last_value, state.held = t, v, None
        tiers.insert_samples(rows)
        for state, ts_ms, value in late:
            inserted = (
                Sample.insert(series_id=state.id, ts=ts_ms, value=value)
                .on_conflict_ignore()
                .as_rowcount()
                .execute()
            )
            if inserted:
                added[state.name] = added.get(state.name, 0) + int(inserted)
                rows.append((state.id, ts_ms, value))
        # A sample in an already rolled-up minute (late, or held back) updates that minute.
        rolled = {state.id: state.rolled_ms for state in staged.series.values()}
        for series_id, minute in {
            (sid, tiers.minute_of(t)) for sid, t, _ in rows if t < rolled[sid]
        }:
            tiers.roll_up(series_id, minute, minute + MINUTE_MS)
        for name in added.keys() | renamed_units:
            state = staged.series[name]
            Series.update(
                count=Series.count + added.get(name, 0), last_ms=state.last_ms, unit=state.unit
            ).where(Series.id == state.id).execute()
        return sum(added.values())

    def _state(self, name: str, kind: str, unit: str) -> SeriesState:
        state = self._series.get(name)
        if state is not None:
            return state
        row = Series.get_or_none(Series.name == name)
        if row is None:
            row = Series.create(name=name, kind=kind, unit=unit)
        last = (
            Sample.select(Sample.ts, Sample.value)
            .where(Sample.series_id == row.id)
            .order_by(Sample.ts.desc())
            .limit(1)
            .tuples()
            .first()
        )
        state = SeriesState(row.id, name, row.unit, rolled_ms=row.rolled_ms)
        if last is not None:
            state.last_ms, state.last_value = last
        return state

    def _write_events(
        self, events: list[EventIn], staged: dict[tuple[str, str], str | None]
    ) -> int:
        rows = []
        for e in events:
            key = (e.loop, e.kind)
            if key in staged:
                previous = staged[key]
            elif key in self._events:
                previous = self._events[key]
            else:
                previous = self._last_event(e.loop, e.kind)
            if previous == e.value:
                continue
            staged[key] = e.value
            rows.append((e.ts, e.loop, e.kind, e.value))
        if rows:
            Event.insert_many(
                rows, fields=[Event.ts, Event.loop, Event.kind, Event.value]
            ).execute()
        return len(rows)

    def _last_event(self, loop: str, kind: str) -> str | None:
        row = (
            Event.select(Event.value)
            .where((Event.loop == loop) & (Event.kind == kind))
            .order_by(Event.ts.desc(), Event.id.desc())
            .first()
        )
        return _NOTHING_YET if row is None else row.value

    def _write_alarms(self, alarms: list[AlarmIn], staged: dict[str, Alarm | None]) -> int:
        rows = []
        for a in alarms:
            if a.alarm_id in staged:
                previous = staged[a.alarm_id]
            elif a.alarm_id in self._alarms:
                previous = self._alarms[a.alarm_id]
            else:
                previous = self._last_alarm(a.alarm_id)
            for event in alarm_events(previous, a.alarm):
                shown = a.alarm or previous
                assert shown is not None
                rows.append(
                    {
                        "ts": _event_time(a.alarm, event, a.ts),
                        "alarm_id": a.alarm_id,
                        "event": event,
                        "state": shown.state.value,
                        "acknowledged": shown.acknowledged,
                        "acknowledged_by": shown.acknowledged_by,
                        "severity": shown.severity.value,
                        "kind": shown.kind,
                        "source": shown.source,
                        "message": shown.message,
                        "raised_at": shown.raised_at or None,
                        "cleared_at": shown.cleared_at,
                        "acknowledged_at": shown.acknowledged_at,
                    }
                )
            staged[a.alarm_id] = a.alarm
        if rows:
            AlarmRecord.insert_many(rows).execute()
        return len(rows)

    def _last_alarm(self, alarm_id: str) -> Alarm | None:
        row = (
            AlarmRecord.select()
            .where(AlarmRecord.alarm_id == alarm_id)
            .order_by(AlarmRecord.id.desc())
            .first()
        )
        if row is None or row.event == "removed":
            return None
        return Alarm(
            id=row.alarm_id,
            message=row.message,
            kind=row.kind,
            severity=row.severity,
            source=row.source,
            state=row.state,
            acknowledged=row.acknowledged,
            acknowledged_by=row.acknowledged_by,
            raised_at=row.raised_at or 0.0,
            cleared_at=row.cleared_at,
            acknowledged_at=row.acknowledged_at,
            ts=row.ts,
        )

    # tiers ---------------------------------------------------------------------------------
    def roll_up(self, now_ms: int, budget_s: float = 1.0) -> bool:
        """Roll up closed minutes for about `budget_s` seconds; True if more is waiting."""
        deadline = time.perf_counter() + budget_s
        more = False
        for row in Series.select(Series.id, Series.name, Series.last_ms, Series.rolled_ms):
            if row.last_ms is None:
                continue
            closed = tiers.minute_of(row.last_ms)
            if now_ms >= closed + MINUTE_MS + ROLLUP_GRACE_MS:
                closed += MINUTE_MS
            lo = row.rolled_ms
            if lo == 0:
                first = tiers.first_raw_ms(row.id)
                if first is None:
                    continue
                lo = tiers.minute_of(first)
            while lo < closed:
                if time.perf_counter() > deadline:
                    return True
                hi = min(closed, lo + MAINTENANCE_SLICE_MS)
                with self._db.atomic():
                    tiers.roll_up(row.id, lo, hi)
                    Series.update(rolled_ms=hi).where(Series.id == row.id).execute()
                state = self._series.get(row.name)
                if state is not None:
                    state.rolled_ms = hi
                lo = hi
            more = more or lo < closed
        return more

    def apply_retention(self, now: float, budget_s: float = 1.0) -> bool:
        """Delete what the settings say is too old for about `budget_s` seconds; True if more is waiting."""
        deadline = time.perf_counter() + budget_s
        settings = self._settings()
        now_ms = to_ms(now)
        raw_cutoff = now_ms - round(settings.raw_days * tiers.DAY_MS)
        rollup_days = settings.effective_rollup_days
        for row in Series.select(Series.id, Series.rolled_ms, Series.pruned_ms):
            # Never retire a raw sample before its minute is rolled up.
            cutoff = tiers.minute_of(min(raw_cutoff, row.rolled_ms))
            first = tiers.first_raw_ms(row.id) if cutoff > row.pruned_ms else None
            while first is not None and first < cutoff:
                if time.perf_counter() > deadline:
                    return True
                hi = min(cutoff, first + MAINTENANCE_SLICE_MS)
                with self._db.atomic():
                    gone = tiers.delete_raw(row.id, first, hi)
                    Series.update(count=Series.count - gone, pruned_ms=hi).where(
                        Series.id == row.id
                    ).execute()
                first = tiers.first_raw_ms(row.id)
            if cutoff > row.pruned_ms:
                Series.update(pruned_ms=cutoff).where(Series.id == row.id).execute()
            if rollup_days:
                tiers.delete_rollups_before(row.id, now_ms - round(rollup_days * tiers.DAY_MS))
        if settings.log_days:
            tiers.delete_logs_before(now - settings.log_days * 86_400)
        if settings.log_rows:
            tiers.delete_logs_beyond(settings.log_rows)
        return False

    def _trim_logs(self, added: int) -> None:
        """Keep the stored log within `log_rows`, checked every tenth of it (not every batch)."""
        limit = self._settings().log_rows
        self._logs_unchecked += added
        if limit and self._logs_unchecked >= max(1, limit // 10):
            self._logs_unchecked = 0
            tiers.delete_logs_beyond(limit)
