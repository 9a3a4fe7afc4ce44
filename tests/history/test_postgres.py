"""The same history code on PostgreSQL answers exactly as on SQLite.

Uses `MAELSTROM_TEST_POSTGRES_URL` when set; otherwise, when PostgreSQL's server
binaries are installed, a throwaway cluster on a free port; otherwise skipped,
saying why.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from services.api.database import open_database
from services.api.history import query
from services.api.history.models import MODELS, create_tables
from services.api.history.writer import AlarmIn, Batch, EventIn, LogIn, SampleIn
from services.common.schema.alarms import Alarm
from tests.history.conftest import writer_for
from tests.support.postgres import postgres_server

T0 = 1_795_000_020.0
DAY = 86_400.0


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    with postgres_server() as url:
        yield url


def _scenario(url: str) -> dict[str, Any]:
    """Record, roll up, retire and read back the same history; what a client would see."""
    db = open_database(url)
    db.drop_tables(MODELS, safe=True)
    create_tables(db)
    create_tables(db)  # every start runs it
    try:
        writer = writer_for(db, raw_days=1)
        samples = [
            SampleIn("sensor/sim/beer", "sensor", "°C", T0 + t, 18 + (t % 5000) / 4000)
            for t in range(0, int(2 * DAY), 7)
        ]
        writer.write(Batch(samples=samples[:20_000]))
        writer.write(Batch(samples=samples[20_000:]))
        writer.write(Batch(samples=[SampleIn("sensor/sim/beer", "sensor", "°C", T0 + 3, 40.0)]))
        alarm = Alarm(id="high", message="too warm", raised_at=T0, ts=T0)
        writer.write(
            Batch(
                events=[EventIn("fermenter", "mode", m, T0 + i) for i, m in enumerate("abba")],
                alarms=[
                    AlarmIn("high", alarm, T0),
                    AlarmIn("high", alarm.acknowledge("brewer", T0 + 5), T0 + 5),
                    AlarmIn("high", None, T0 + 9),
                ],
                logs=[LogIn(T0, 30, "controller", "sensor slow")],
            )
        )
        now = T0 + 2 * DAY
        while writer.roll_up(round(now * 1000)):
            pass
        while writer.apply_retention(now):
            pass
        writer.write(Batch(), final=True)
        pages = query.export_pages(["sensor/sim/beer"], T0, now)
        return {
            "series": query.series_list(),
            "month": query.read_series("sensor/sim/beer", T0, now, 500).__dict__,
            "hour": query.read_series("sensor/sim/beer", now - 3600, now, 100).__dict__,
            "few": query.read_series("sensor/sim/beer", now - 60, now, 100).__dict__,
            "export": [row for page in pages for row in page],
            "events": query.events(0, now, "fermenter", None, 100),
            "alarms": query.alarm_history(0, now),
            "logs": query.log_history(0, now, 0, None, 10),
        }
    finally:
        db.close()


def _close(a: Any, b: Any) -> bool:
    """Equal, allowing float sums to differ in the last bits between databases."""
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= 1e-9 * max(1.0, abs(a))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def test_postgresql_answers_as_sqlite_does(postgres_url: str, tmp_path: Path) -> None:
    on_postgres = _scenario(postgres_url)
    on_sqlite = _scenario(f"sqlite:///{tmp_path / 'history.db'}")
    assert on_sqlite["export"] and on_sqlite["month"]["t"] and on_sqlite["few"]["bucket_s"] == 0
    for key in on_sqlite:
        assert _close(on_postgres[key], on_sqlite[key]), key
