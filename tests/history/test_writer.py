"""What the writer keeps, against a real SQLite file: dead band, heartbeat, steps,
retries, alarm lifecycles, rollups and retention."""

from __future__ import annotations

import peewee

from services.api.history import query
from services.api.history.models import AlarmRecord, LogEntry, Rollup, Sample, Series
from services.api.history.writer import AlarmIn, Batch, EventIn, LogIn, SampleIn
from services.common.schema.alarms import Alarm, AlarmState
from tests.history.conftest import writer_for

T0 = 1_795_000_020.0  # on a whole minute
DAY = 86_400.0


def temps(*points: tuple[float, float | None], series: str = "sensor/sim/beer") -> Batch:
    return Batch(samples=[SampleIn(series, "sensor", "°C", T0 + t, v) for t, v in points])


def stored(series: str = "sensor/sim/beer") -> list[tuple[float, float | None]]:
    series_id = Series.get(Series.name == series).id
    return [
        (ts / 1000 - T0, v)
        for ts, v in Sample.select(Sample.ts, Sample.value)
        .where(Sample.series_id == series_id)
        .order_by(Sample.ts)
        .tuples()
    ]


def test_a_held_value_is_stored_at_the_heartbeat_and_just_before_it_changes(
    db: peewee.Database,
) -> None:
    writer = writer_for(db, heartbeat_s=60)
    writer.write(temps(*((t, 20.0) for t in range(150))))
    assert stored() == [(0, 20.0), (60, 20.0), (120, 20.0)]
    writer.write(temps((150, 21.0), (151, 21.0)))
    # 149 s is kept so a chart draws a step at 150 s, not a ramp from 120 s.
    assert stored() == [(0, 20.0), (60, 20.0), (120, 20.0), (149, 20.0), (150, 21.0)]
    writer.write(Batch(), final=True)  # a clean shutdown keeps the last value held back
    assert stored()[-1] == (151, 21.0)
    assert Series.get(Series.name == "sensor/sim/beer").count == 6


def test_changes_within_the_dead_band_wait_for_the_heartbeat(db: peewee.Database) -> None:
    writer = writer_for(db, deadband={"sensor/*": 0.1}, heartbeat_s=60)
    writer.write(temps((0, 20.0), (1, 20.05), (2, 20.08), (3, 20.25), (4, 20.3)))
    writer.write(temps((5, 5.0), (6, 5.01), series="loop/f/heat"))  # no band for outputs
    assert stored() == [(0, 20.0), (2, 20.08), (3, 20.25)]
    assert stored("loop/f/heat") == [(5, 5.0), (6, 5.01)]


def test_a_lost_reading_is_stored_as_a_gap(db: peewee.Database) -> None:
    writer = writer_for(db)
    writer.write(temps((0, 20.0), (1, None), (2, None), (3, 20.0), (4, float("nan"))))
    assert stored() == [(0, 20.0), (1, None), (2, None), (3, 20.0), (4, None)]


def test_retained_repeats_after_a_restart_are_not_stored_twice(db: peewee.Database) -> None:
    writer_for(db).write(temps((0, 20.0), (1, 20.5)))
    again = writer_for(db)  # a restarted API: the broker re-delivers the retained value
    again.write(temps((1, 20.5), (2, 20.5), (3, 21.0)))
    assert stored() == [(0, 20.0), (1, 20.5), (2, 20.5), (3, 21.0)]
    assert Series.get(Series.name == "sensor/sim/beer").count == 4


def test_late_samples_are_kept_and_update_their_rolled_up_minute(db: peewee.Database) -> None:
    writer = writer_for(db)
    writer.write(temps(*((t, 20.0 + t / 100) for t in range(0, 200, 10))))
    writer.roll_up(round((T0 + 400) * 1000))
    writer.write(temps((30.5, 30.0)))  # arrives after its minute was rolled up
    assert (30.5, 30.0) in stored()
    minute = Rollup.get(Rollup.ts == round(T0 * 1000))
    assert (minute.max, minute.n) == (30.0, 7)


def test_a_failed_write_is_retried_without_losing_or_doubling(db: peewee.Database) -> None:
    writer = writer_for(db)
    writer.write(temps((0, 20.0)))
    batch = temps((1, 21.0), (2, 22.0))
    batch.logs.append(LogIn(T0, 30, "controller", "sensor lost"))
    db.drop_tables([LogEntry])  # the database refuses part of the transaction
    try:
        writer.write(batch)
    except peewee.DatabaseError:
        pass
    else:
        raise AssertionError("the write should have failed")
    assert stored() == [(0, 20.0)]  # all or nothing
    db.create_tables([LogEntry])
    writer.write(batch)
    assert stored() == [(0, 20.0), (1, 21.0), (2, 22.0)]
    assert Series.get(Series.name == "sensor/sim/beer").count == 3
    assert LogEntry.select().count() == 1


def _alarm(**changes: object) -> Alarm:
    base = Alarm(
        id="fermenter-high",
        message="Fermenter above 24 °C",
        kind="high",
        source="fermenter",
        raised_at=T0,
        ts=T0,
    )
    return base.model_copy(update=changes)


def test_each_alarm_change_is_recorded_once(db: peewee.Database) -> None:
    writer = writer_for(db)
    raised = _alarm()
    acked = raised.acknowledge("brewer", T0 + 60)
    cleared = acked.clear(T0 + 120)
    for step in (raised, raised, acked, acked, cleared):
        writer.write(Batch(alarms=[AlarmIn("fermenter-high", step, T0 + 200)]))
    writer_for(db).write(Batch(alarms=[AlarmIn("fermenter-high", cleared, T0 + 200)]))  # restart
    writer.write(Batch(alarms=[AlarmIn("fermenter-high", None, T0 + 130)]))
    history = query.alarm_history(0, T0 + DAY)
    assert [(h["event"], h["ts"]) for h in reversed(history)] == [
        ("raised", T0),
        ("acknowledged", T0 + 60),
        ("cleared", T0 + 120),
        ("removed", T0 + 130),
    ]
    assert history[1]["acknowledged_by"] == "brewer"
    assert query.alarm_history(0, T0 + DAY, event="cleared")[0]["state"] == AlarmState.cleared
    # Raised again later: a new life.
    writer.write(Batch(alarms=[AlarmIn("fermenter-high", _alarm(raised_at=T0 + 500), T0 + 500)]))
    assert query.alarm_history(0, T0 + DAY, limit=1)[0]["event"] == "raised"
    assert AlarmRecord.select().count() == 5


def test_loop_events_are_recorded_on_change_only(db: peewee.Database) -> None:
    writer = writer_for(db)
    modes = ["off", "off", "constant", "constant", "profile", "off"]
    writer.write(
        Batch(events=[EventIn("fermenter", "mode", m, T0 + i) for i, m in enumerate(modes)])
    )
    writer_for(db).write(Batch(events=[EventIn("fermenter", "mode", "off", T0 + 10)]))
    got = query.events(0, T0 + DAY, "fermenter", "mode", 100)
    assert [(e["ts"] - T0, e["value"]) for e in got] == [
        (0, "off"),
        (2, "constant"),
        (4, "profile"),
        (5, "off"),
    ]


def test_retention_retires_raw_samples_into_rollups_and_keeps_the_shape(
    db: peewee.Database,
) -> None:
    writer = writer_for(db, raw_days=14, log_days=7)
    # Twenty days, a sample every 30 s, with one short spike on day 2.
    points = [(t, 18.0 + (t % 3600) / 3600) for t in range(0, int(20 * DAY), 30)]
    points[int(2 * DAY / 30)] = (2 * DAY, 35.0)
    for i in range(0, len(points), 20_000):
        writer.write(temps(*points[i : i + 20_000]))
    writer.write(
        Batch(
            logs=[
                LogIn(T0 + DAY, 30, "controller", "old"),
                LogIn(T0 + 19 * DAY, 30, "controller", "recent"),
            ]
        )
    )
    now = T0 + 20 * DAY
    while writer.roll_up(round(now * 1000)):
        pass
    while writer.apply_retention(now):
        pass

    oldest_raw = stored()[0][0]
    assert oldest_raw == 6 * DAY  # everything older than 14 days is rolled up only
    series = {s["name"]: s for s in query.series_list()}["sensor/sim/beer"]
    assert series["first"] == T0 and series["count"] == len(stored())
    week = query.read_series("sensor/sim/beer", T0, now, 500)
    assert max(week.max) == 35.0  # the spike survives retirement
    assert min(week.min) == 18.0
    assert [m for _, _, _, m in query.log_history(0, now, 0, None, 10)] == ["recent"]


def test_retention_waits_for_the_rollups(db: peewee.Database) -> None:
    writer = writer_for(db, raw_days=1)
    writer.write(temps(*((t, 20.0 + t) for t in range(0, int(3 * DAY), 3600))))
    writer.apply_retention(T0 + 10 * DAY)  # nothing is rolled up yet: nothing may go
    assert len(stored()) == 72


def test_the_stored_log_is_bounded_in_size_as_well_as_age(db: peewee.Database) -> None:
    writer = writer_for(db, log_rows=1_000)
    for batch in range(100):
        logs = [LogIn(T0 + batch, 30, "api", f"line {batch}.{i}") for i in range(50)]
        writer.write(Batch(logs=logs))
    # Checked every tenth of the bound: never more than the bound and a tenth.
    assert 1_000 <= LogEntry.select().count() <= 1_100
    while writer.apply_retention(T0 + 100):
        pass
    kept = [e.message for e in LogEntry.select().order_by(LogEntry.id)]
    assert len(kept) == 1_000 and kept[-1] == "line 99.49" and kept[0] == "line 80.0"
