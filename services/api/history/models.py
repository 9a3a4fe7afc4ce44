"""The history tables, bound to the API's database proxy.

Samples and rollups are the bulk of the database, so they are lean: an integer
series id, integer milliseconds and a double, keyed by (series, time). On SQLite
they are WITHOUT ROWID tables, so the key *is* the table (no second copy in an
index): about 25 bytes a sample.
"""

from __future__ import annotations

import peewee

from services.api.database import database


class _Base(peewee.Model):
    class Meta:
        database = database


class Series(_Base):
    """One recorded quantity, e.g. `loop/fermenter/pv` or `sensor/sim/beer`."""

    name = peewee.CharField(max_length=255, unique=True)
    kind = peewee.CharField(max_length=16)  # "loop" or "sensor"
    unit = peewee.CharField(max_length=32, default="")
    count = peewee.BigIntegerField(default=0)  # raw samples stored
    last_ms = peewee.BigIntegerField(null=True)  # newest raw sample
    rolled_ms = peewee.BigIntegerField(default=0)  # 1-minute rollups are complete before this
    pruned_ms = peewee.BigIntegerField(default=0)  # raw samples retired before this (a minute)

    class Meta:
        table_name = "history_series"


class Sample(_Base):
    """Raw tier: every stored reading."""

    series_id = peewee.IntegerField()
    ts = peewee.BigIntegerField()  # Unix milliseconds
    value = peewee.DoubleField(null=True)  # null: no usable reading (sensor lost, loop off)

    class Meta:
        table_name = "history_sample"
        primary_key = peewee.CompositeKey("series_id", "ts")

    @classmethod
    def in_range(cls, series_id: int, lo_ms: int, hi_ms: int) -> peewee.Expression:
        """The series' samples with `lo_ms <= ts < hi_ms` (every range here is half-open)."""
        return (cls.series_id == series_id) & (cls.ts >= lo_ms) & (cls.ts < hi_ms)


class Rollup(_Base):
    """Rollup tier: one row per series per minute that had readings."""

    series_id = peewee.IntegerField()
    ts = peewee.BigIntegerField()  # start of the minute, Unix milliseconds
    min = peewee.DoubleField()
    avg = peewee.DoubleField()
    max = peewee.DoubleField()
    n = peewee.IntegerField()  # how many raw samples it summarises

    class Meta:
        table_name = "history_rollup"
        primary_key = peewee.CompositeKey("series_id", "ts")


class Event(_Base):
    """A loop's discrete changes: mode, activity state, running profile, its step."""

    ts = peewee.DoubleField()
    loop = peewee.CharField(max_length=100)
    kind = peewee.CharField(max_length=16)  # "mode", "state", "profile", "step"
    value = peewee.CharField(max_length=100, null=True)

    class Meta:
        table_name = "history_event"
        indexes = ((("loop", "kind", "ts"), False), (("ts",), False))


class AlarmRecord(_Base):
    """One change in an alarm's life: raised, acknowledged, cleared, removed, updated."""

    ts = peewee.DoubleField()
    alarm_id = peewee.CharField(max_length=100)
    event = peewee.CharField(max_length=16)
    state = peewee.CharField(max_length=16)
    acknowledged = peewee.BooleanField(default=False)
    acknowledged_by = peewee.CharField(max_length=100, null=True)
    severity = peewee.CharField(max_length=16)
    kind = peewee.CharField(max_length=32)
    source = peewee.CharField(max_length=100, default="")
    message = peewee.CharField(max_length=500)
    raised_at = peewee.DoubleField(null=True)
    cleared_at = peewee.DoubleField(null=True)
    acknowledged_at = peewee.DoubleField(null=True)

    class Meta:
        table_name = "history_alarm"
        indexes = ((("ts",), False), (("alarm_id", "ts"), False))


class LogEntry(_Base):
    ts = peewee.DoubleField()
    level = peewee.SmallIntegerField()  # services.common.schema.logs.LogLevel
    source = peewee.CharField(max_length=100)
    message = peewee.TextField()

    class Meta:
        table_name = "history_log"
        indexes = ((("ts",), False), (("source", "ts"), False))


class Annotation(_Base):
    """A brewer's note on the timeline: "pitched yeast", "dry hopped"."""

    ts = peewee.DoubleField(index=True)
    text = peewee.CharField(max_length=500)
    loop = peewee.CharField(max_length=100, null=True)
    created_at = peewee.DoubleField()

    class Meta:
        table_name = "history_annotation"


class TargetChange(_Base):
    """A command's effect on a loop's target, and who sent it (services/api/history/changes.py)."""

    ts = peewee.DoubleField()
    loop = peewee.CharField(max_length=100)
    who = peewee.CharField(max_length=100)
    field = peewee.CharField(max_length=32)  # mode, setpoint, manual_output, profile
    before = peewee.TextField()  # JSON
    after = peewee.TextField()  # JSON
    what = peewee.CharField(max_length=200)  # "setpoint 18 → 12 °C"
    revision = peewee.IntegerField()
    target = peewee.TextField()  # the whole target, to compare the next one with after a restart

    class Meta:
        table_name = "history_change"
        indexes = ((("ts",), False), (("loop", "ts"), False))


MODELS: list[type[peewee.Model]] = [
    Series,
    Sample,
    Rollup,
    Event,
    AlarmRecord,
    LogEntry,
    Annotation,
    TargetChange,
]


def create_tables(db: peewee.Database) -> None:
    """Create what is missing (idempotent). Schema migration 3 runs it
    (services/api/migrations.py); the writer runs it again at start."""
    sqlite = isinstance(db, peewee.SqliteDatabase)
    for model in (Sample, Rollup):
        # WITHOUT ROWID is SQLite's; PostgreSQL keeps a heap plus the primary-key index.
        model._meta.without_rowid = sqlite
    db.create_tables(MODELS, safe=True)
