"""History: ingest rate, chart query time, and database size, each against a baseline.

1. Ingest — sensor readings handed to the recorder's message handler (JSON
   parse, validation, batching, the writer thread, one SQLite transaction per
   batch), every reading a new value (nothing saved by the dead band), 200
   series. Baseline: the same rows written one transaction per reading, as a
   recorder without batching would. Then the same through Mosquitto end to end
   (a separate publisher process → broker → the API's MQTT client → SQLite).
2. Query — 30 days of one series at 1 Hz (2.59 M samples), `points=1000`:
   ours (1-minute rollups + raw tail, aggregated in SQL) against a naive full
   fetch of every sample bucketed in Python, and against the same SQL on the raw
   tier alone.
3. Size — bytes on disk per series per day (SQLite's dbstat) for a reading
   that changes every second, for a steady fermenter sensor (store on change
   plus a 60 s heartbeat), and for the 1-minute rollup tier.
"""

from __future__ import annotations

import asyncio
import json
import math
import multiprocessing
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import peewee

from services.api.database import open_database
from services.api.history import query
from services.api.history.downsample import downsample, plan_grid
from services.api.history.models import Sample, Series, create_tables
from services.api.history.recorder import Recorder
from services.api.history.settings import HistorySettings
from services.api.history.writer import Batch, HistoryWriter, SampleIn
from services.common.clock import RealClock
from services.common.config import Config
from services.common.mqtt import Message, MqttClient

DAY = 86_400
SERIES = 200
INGEST_SAMPLES = 400_000
NAIVE_SECONDS = 3.0
QUERY_DAYS = 30
QUERY_RUNS = 5


def _db(folder: Path, name: str) -> peewee.Database:
    db = open_database(f"sqlite:///{folder / name}")
    create_tables(db)
    return db


def _reading(series: int, i: int, t0: float) -> Message:
    payload = {"value": 18 + ((i * 7 + series) % 97) / 16, "unit": "°C", "ts": t0 + i}
    return Message(f"maelstrom/data/sensors/bench/s{series}", json.dumps(payload).encode())


# --- 1. ingest ------------------------------------------------------------------------------


async def _ingest_recorder(folder: Path) -> tuple[float, int]:
    db = _db(folder, "ingest.db")
    mqtt = MqttClient(Config(), "bench", announce=False)  # never started: handlers only
    recorder = Recorder(mqtt, db, RealClock())
    await recorder.start()
    t0 = time.time() - INGEST_SAMPLES
    messages = [_reading(s, i, t0) for i in range(INGEST_SAMPLES // SERIES) for s in range(SERIES)]
    started = time.perf_counter()
    for n, message in enumerate(messages):
        recorder.receive(message)
        if n % 2000 == 0:
            await asyncio.sleep(0)  # the batch loop writes while readings keep coming
    await recorder.flush()
    elapsed = time.perf_counter() - started
    stored = recorder.writer.stored
    await recorder.stop()
    db.close()
    return stored / elapsed, stored


def _ingest_naive(folder: Path) -> float:
    db = _db(folder, "naive.db")
    with db.atomic():
        ids = [Series.create(name=f"sensor/bench/s{s}", kind="sensor").id for s in range(SERIES)]
    t0, n = time.time(), 0
    started = time.perf_counter()
    while time.perf_counter() - started < NAIVE_SECONDS:
        for sid in ids[:10]:
            Sample.insert(
                series_id=sid, ts=round((t0 + n) * 1000), value=18 + n % 97 / 16
            ).execute()
        n += 1
    rate = n * 10 / (time.perf_counter() - started)
    db.close()
    return rate


def _publisher(port: int, count: int, ready: Any) -> None:
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    client = paho.Client(CallbackAPIVersion.VERSION2)
    client.connect("127.0.0.1", port)
    client.loop_start()
    t0 = time.time() - count
    payloads = [
        (f"maelstrom/data/sensors/bench/s{i % SERIES}", _reading(i % SERIES, i, t0).payload)
        for i in range(count)
    ]
    ready.wait()
    last = None
    for topic, payload in payloads:
        last = client.publish(topic, payload, qos=1)  # paho keeps 20 in flight
    if last is not None:
        last.wait_for_publish()
    client.loop_stop()
    client.disconnect()


async def _ingest_broker(folder: Path, count: int) -> tuple[float, int]:
    from tests.support.broker import Broker

    (folder / "broker").mkdir()
    broker = Broker(folder / "broker")
    broker.start()
    db = _db(folder, "broker.db")
    config = Config.from_env({"MAELSTROM_MQTT_URL": broker.url})
    mqtt = MqttClient(config, "bench", announce=False)
    recorder = Recorder(mqtt, db, RealClock())
    await mqtt.start()
    await recorder.start()
    try:
        while not recorder.subscribed:
            await asyncio.sleep(0.01)
        ready = multiprocessing.Event()
        proc = multiprocessing.Process(target=_publisher, args=(broker.port, count, ready))
        proc.start()
        await asyncio.sleep(1.0)  # let the publisher build its payloads
        ready.set()
        first = None
        while recorder.received < count:
            if first is None and recorder.received:
                first = time.perf_counter()
            await asyncio.sleep(0.005)
        await recorder.flush()
        elapsed = time.perf_counter() - (first or time.perf_counter())
        proc.join()
        return count / elapsed, recorder.writer.stored
    finally:
        await recorder.stop()
        await mqtt.stop()
        broker.stop()
        db.close()


# --- 2. query -----------------------------------------------------------------------------------


def _fill_month(folder: Path) -> tuple[peewee.Database, float, float, float]:
    db = _db(folder, "month.db")
    settings = HistorySettings()
    writer = HistoryWriter(db, lambda: settings)
    rnd = random.Random(1)
    t0 = float(round(time.time() / 60) * 60 - QUERY_DAYS * DAY)
    total = QUERY_DAYS * DAY
    started = time.perf_counter()
    chunk = 50_000
    for lo in range(0, total, chunk):
        samples = [
            SampleIn(
                "sensor/sim/beer",
                "sensor",
                "°C",
                t0 + t,
                round((18 + 3 * math.sin(t / DAY) + rnd.gauss(0, 0.03)) / 0.0625) * 0.0625
                + t * 1e-9,
            )
            for t in range(lo, min(lo + chunk, total))
        ]
        writer.write(Batch(samples=samples))
    filled = time.perf_counter() - started
    started = time.perf_counter()
    while writer.roll_up(round((t0 + total + 120) * 1000), 10.0):
        pass
    rolled = time.perf_counter() - started
    return db, t0, filled, rolled


def _median_ms(fn: Callable[[], object], runs: int = QUERY_RUNS) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def _fetch_all(name: str, t0: float, t1: float) -> list[tuple[int, float | None]]:
    series_id = Series.get(Series.name == name).id
    return list(
        Sample.select(Sample.ts, Sample.value)
        .where((Sample.series_id == series_id) & (Sample.ts >= t0 * 1000) & (Sample.ts < t1 * 1000))
        .order_by(Sample.ts)
        .tuples()
    )


def _naive(name: str, t0: float, t1: float, points: int) -> list[Any]:
    rows = _fetch_all(name, t0, t1)
    return downsample(rows, plan_grid(round(t0 * 1000), round(t1 * 1000), points))


def _raw_sql_only(name: str, t0: float, t1: float, points: int) -> list[Any]:
    row = Series.get(Series.name == name)
    grid = plan_grid(round(t0 * 1000), round(t1 * 1000), points)
    return query._raw_buckets(row.id, grid.start_ms, round(t1 * 1000), grid)


# --- 3. size ---------------------------------------------------------------------------------------


def _table_bytes(db: peewee.Database) -> dict[str, int]:
    rows = db.execute_sql("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").fetchall()
    return {name: size for name, size in rows}


def _size_per_day(
    folder: Path, name: str, value: Callable[[int], float], days: int = 3
) -> dict[str, float]:
    db = _db(folder, name)
    settings = HistorySettings()
    writer = HistoryWriter(db, lambda: settings)
    t0 = float(round(time.time() / 60) * 60 - days * DAY)
    for lo in range(0, days * DAY, 50_000):
        writer.write(
            Batch(
                samples=[
                    SampleIn("sensor/sim/beer", "sensor", "°C", t0 + t, value(t))
                    for t in range(lo, min(lo + 50_000, days * DAY))
                ]
            )
        )
    while writer.roll_up(round((t0 + days * DAY + 120) * 1000), 10.0):
        pass
    sizes = _table_bytes(db)
    count = Sample.select().count()
    db.close()
    return {
        "raw_per_day": sizes.get("history_sample", 0) / days,
        "rollup_per_day": sizes.get("history_rollup", 0) / days,
        "samples_per_day": count / days,
    }


# --- report -------------------------------------------------------------------------------------------


def main() -> None:
    print(f"(load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        print("1. ingest (samples/s sustained into SQLite, WAL, synchronous=normal)")
        rate, stored = asyncio.run(_ingest_recorder(folder))
        naive = _ingest_naive(folder)
        print(f"   recorder path, {SERIES} series, {stored:,} samples: {rate:,.0f} samples/s")
        print(f"   baseline, one transaction per sample:    {naive:,.0f} samples/s")
        print(f"   ratio: {rate / naive:.1f}x")
        broker_rate, _ = asyncio.run(_ingest_broker(folder, 60_000))
        print(
            f"   end to end via Mosquitto (separate QoS 1 publisher, 1 reading per message): "
            f"{broker_rate:,.0f} samples/s"
        )

        print(f"\n2. query: {QUERY_DAYS} days of one series at 1 Hz, points=1000")
        db, t0, filled, rolled = _fill_month(folder)
        t1 = t0 + QUERY_DAYS * DAY
        name = "sensor/sim/beer"
        count = Sample.select().count()
        print(f"   ({count:,} raw samples written in {filled:.1f} s; rolled up in {rolled:.1f} s)")
        ours = query.read_series(name, t0, t1, 1000)
        truth = _naive(name, t0, t1, 1000)
        assert max(ours.max) == max(b.max for b in truth)
        assert min(ours.min) == min(b.min for b in truth)
        ours_ms = _median_ms(lambda: query.read_series(name, t0, t1, 1000))
        raw_ms = _median_ms(lambda: _raw_sql_only(name, t0, t1, 1000))
        fetch_ms = _median_ms(lambda: _fetch_all(name, t0, t1), runs=3)
        naive_ms = _median_ms(lambda: _naive(name, t0, t1, 1000), runs=3)
        print(f"   ours (rollups + raw tail, SQL):   {ours_ms:8.1f} ms  ({len(ours.t)} points)")
        print(f"   same SQL on the raw tier only:    {raw_ms:8.1f} ms")
        print(f"   naive: fetch every sample:        {fetch_ms:8.1f} ms")
        print(f"   naive: fetch + bucket in Python:  {naive_ms:8.1f} ms")
        print(
            f"   ratio fetch/ours: {fetch_ms / ours_ms:.0f}x, fetch+bucket/ours: {naive_ms / ours_ms:.0f}x"
        )
        day_ms = _median_ms(lambda: query.read_series(name, t1 - DAY, t1, 1000))
        print(f"   one day, points=1000:             {day_ms:8.1f} ms")
        db.close()

        print("\n3. size on disk per series per day (SQLite)")
        rnd = random.Random(2)
        cases = {
            "changes every second (worst case)": lambda t: 18 + (t * 7 % 97) / 16,
            "fermenter beer sensor (DS18B20, slow)": lambda t: (
                round((18 + 0.5 * math.sin(t / DAY * 2 * math.pi) + rnd.gauss(0, 0.01)) / 0.0625)
                * 0.0625
            ),
            "setpoint held for hours": lambda t: 18.0 if t < DAY else 21.0,
        }
        for i, (label, fn) in enumerate(cases.items()):
            size = _size_per_day(folder, f"size{i}.db", fn)
            print(
                f"   {label:40s} {size['samples_per_day']:8,.0f} samples/day "
                f"raw {size['raw_per_day'] / 1e6:6.2f} MB/day "
                f"({size['raw_per_day'] / max(size['samples_per_day'], 1):4.1f} B/sample), "
                f"rollups {size['rollup_per_day'] / 1e3:5.1f} kB/day"
            )
