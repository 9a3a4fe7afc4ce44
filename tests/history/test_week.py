"""A simulated week of fermentation recorded and queried back.

The controller's simulated board is not part of these tests (its own tests run
it); `fermentation.week()` stands in: the beer sensor at 1 Hz, the loop's state
every 10 s, gravity every 15 minutes, with timestamps in the payloads. The first
ten minutes travel through the real broker; the rest is handed to the
recorder's message handler directly (the same path minus the network, so a week
takes seconds, not a week), batched and written exactly as live traffic is.
"""

from __future__ import annotations

import asyncio
import bisect
import csv
import io
import json
import time

import pytest

from services.api.history.models import Sample, Series
from services.common.mqtt import Message
from tests.history.conftest import Api
from tests.history.fermentation import DAY, WEEK, Second, week
from tests.support.probe import MqttProbe

BEER = "sensor/sim-fermenter/beer"
LIVE_S = 600  # the first ten minutes through the broker


def messages(s: Second, t0: float) -> list[tuple[str, bytes]]:
    ts = t0 + s.t
    out = [
        (
            "maelstrom/data/sensors/sim-fermenter/beer",
            json.dumps({"value": s.pv, "unit": "°C", "ts": ts}).encode(),
        )
    ]
    if s.t % 10 == 0 or s.state == "fault":
        state = {
            "loop": "fermenter",
            "pv": s.pv,
            "sp": s.sp,
            "output": {"heat": s.heat, "cool": s.cool},
            "mode": s.mode,
            "state": s.state,
            "ts": ts,
        }
        out.append(("maelstrom/data/fermenter", json.dumps(state).encode()))
    if s.gravity is not None:
        out.append(
            (
                "maelstrom/data/sensors/ispindel/gravity",
                json.dumps({"value": s.gravity, "unit": "SG", "ts": ts}).encode(),
            )
        )
    return out


def stored(name: str) -> list[tuple[int, float | None]]:
    series_id = Series.get(Series.name == name).id
    return list(
        Sample.select(Sample.ts, Sample.value)
        .where(Sample.series_id == series_id)
        .order_by(Sample.ts)
        .tuples()
    )


@pytest.mark.slow
async def test_a_simulated_week_is_recorded_and_queried_back(api: Api, probe: MqttProbe) -> None:
    recorder = api.recorder
    t0 = float(round(time.time()) - WEEK)  # the week ends now: nothing is old enough to retire
    seconds = list(week())

    for s in seconds[:LIVE_S]:
        for topic, payload in messages(s, t0):
            probe.publish(topic, payload, retain=True, qos=0)
    await api.received(LIVE_S + LIVE_S // 10 * 7 + 1)  # readings; 4 samples + 4 events; gravity
    for i, s in enumerate(seconds[LIVE_S:]):
        for topic, payload in messages(s, t0):
            recorder.receive(Message(topic, payload))
        if i % 5000 == 0:
            await asyncio.sleep(0)  # let the batch loop write as live traffic would
    await recorder.flush()
    while await recorder.in_writer(recorder.writer.roll_up, round(time.time() * 1000)):
        pass

    # Every reading can be read back: the stored samples, as steps, reproduce all 604 800.
    beer = stored(BEER)
    times = [ts for ts, _ in beer]
    for s in seconds:
        at = bisect.bisect_right(times, round((t0 + s.t) * 1000)) - 1
        assert beer[at][1] == s.pv, f"reading at second {s.t}"
    assert len(beer) < 0.75 * WEEK  # repeats of an unchanged reading are not stored

    series = await api.series()
    assert series[BEER]["first"] == t0
    # An unchanged value is held back until it changes or the heartbeat (60 s) is due.
    assert t0 + WEEK - 60 <= series[BEER]["last"] <= t0 + WEEK - 1
    assert series[BEER]["count"] == len(beer)
    assert [v for _, v in stored("sensor/ispindel/gravity")] == [
        s.gravity for s in seconds if s.gravity is not None
    ]

    # A week on a chart: at most 1000 points, from the rollups, every bucket exact.
    status, body = await api.get(
        "/api/history", series=BEER + ",loop/fermenter/sp", from_=t0, to=t0 + WEEK, points=1000
    )
    assert status == 200, body
    chart, sp = body["series"]
    assert 900 < len(chart["t"]) <= 1000 and chart["bucket_s"] == 660
    values = [v for _, v in beer if v is not None]
    assert max(chart["max"]) == max(values) == max(s.pv for s in seconds if s.pv is not None)
    assert min(chart["min"]) == min(values)
    width = round(chart["bucket_s"] * 1000)
    for t, lo, hi, n in zip(chart["t"], chart["min"], chart["max"], chart["count"], strict=True):
        start = round(t * 1000)
        inside = [
            v
            for ts, v in beer[
                bisect.bisect_left(times, start) : bisect.bisect_left(times, start + width)
            ]
            if v is not None
        ]
        assert (lo, hi, n) == (min(inside), max(inside), len(inside))
    assert sum(chart["count"]) == len(values)
    assert max(sp["max"]) == 21.0 and min(sp["min"]) == 2.0  # the diacetyl rest and the crash

    # The door opened for two minutes on day three shows in a one-hour view.
    door = t0 + 3 * DAY + 12 * 3600
    status, body = await api.get(
        "/api/history", series=BEER, from_=door - 1800, to=door + 1800, points=200
    )
    hour = body["series"][0]
    assert hour["bucket_s"] == 18.0 and len(hour["t"]) <= 200

    # Mode changes are events; the sensor glitch left a gap and a fault.
    status, body = await api.get(
        "/api/history/events", loop="fermenter", kind="mode", from_=t0, to=t0 + WEEK
    )
    modes = [(e["ts"] - t0, e["value"]) for e in body["events"]]
    assert modes == [
        (0, "constant"),
        (DAY, "profile"),
        (5 * DAY + 3600, "off"),
        (5 * DAY + 4200, "profile"),
    ]
    status, body = await api.get(
        "/api/history/events", loop="fermenter", kind="state", from_=t0, to=t0 + WEEK, limit=10000
    )
    faults = [
        e["ts"] - t0 for e in body["events"] if e["kind"] == "state" and e["value"] == "fault"
    ]
    assert faults == [2 * DAY + 43_210]
    assert (round((t0 + 2 * DAY + 43_210) * 1000), None) in beer

    # The CSV of an afternoon is the stored samples of that afternoon.
    lo, hi = t0 + 4 * DAY + 12 * 3600, t0 + 4 * DAY + 18 * 3600
    async with api.client.get(
        "/api/history/export.csv", params={"series": BEER, "from": str(lo), "to": str(hi)}
    ) as resp:
        rows = list(csv.DictReader(io.StringIO(await resp.text())))
    expected = [(ts / 1000, v) for ts, v in beer if lo * 1000 <= ts < hi * 1000]
    assert [(float(r["ts"]), float(r["value"])) for r in rows] == expected
