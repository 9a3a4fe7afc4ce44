"""CSV export: what comes out for a range is exactly what is stored for it."""

from __future__ import annotations

import csv
import io
from datetime import datetime

from services.api.history.models import Rollup, Sample, Series
from services.api.history.settings import HistorySettings
from services.api.history.writer import Batch, SampleIn
from tests.history.conftest import Api

T0 = 1_795_000_020.0  # a whole minute
DAY = 86_400.0


async def _csv(api: Api, **params: object) -> list[dict[str, str]]:
    query = {k.rstrip("_"): str(v) for k, v in params.items()}
    async with api.client.get("/api/history/export.csv", params=query) as resp:
        assert resp.status == 200, await resp.text()
        assert resp.headers["Content-Type"].startswith("text/csv")
        assert "attachment" in resp.headers["Content-Disposition"]
        text = await resp.text()
    return list(csv.DictReader(io.StringIO(text)))


async def test_a_range_exports_exactly_the_stored_samples_and_rollups(api: Api) -> None:
    recorder = api.recorder
    recorder.settings = HistorySettings(raw_days=1)
    # Three days of beer temperature every 10 s, and a gravity reading every 15 minutes.
    samples = [
        SampleIn("sensor/sim/beer", "sensor", "°C", T0 + t, round(19 + (t % 5000) / 4000, 4))
        for t in range(0, int(3 * DAY), 10)
    ] + [
        SampleIn("sensor/ispindel/gravity", "sensor", "SG", T0 + t, 1.05 - t / 1e7)
        for t in range(0, int(3 * DAY), 900)
    ]
    samples.sort(key=lambda s: s.ts)
    await recorder.in_writer(recorder.writer.write, Batch(samples=samples))
    now = T0 + 3 * DAY
    while await recorder.in_writer(recorder.writer.roll_up, round(now * 1000)):
        pass
    while await recorder.in_writer(recorder.writer.apply_retention, now):
        pass

    start, end = T0 + 1.5 * DAY, T0 + 2.5 * DAY  # half of it rolled up only, half raw
    rows = await _csv(api, from_=start, to=end)
    assert {r["series"] for r in rows} == {"sensor/sim/beer", "sensor/ispindel/gravity"}

    for name, unit in (("sensor/sim/beer", "°C"), ("sensor/ispindel/gravity", "SG")):
        series = Series.get(Series.name == name)
        assert series.pruned_ms == round((T0 + 2 * DAY) * 1000)
        lo, hi, pruned = round(start * 1000), round(end * 1000), series.pruned_ms
        rollups = [
            (ts / 1000, repr(avg), repr(mn), repr(mx))
            for ts, avg, mn, mx in Rollup.select(Rollup.ts, Rollup.avg, Rollup.min, Rollup.max)
            .where((Rollup.series_id == series.id) & (Rollup.ts >= lo) & (Rollup.ts < pruned))
            .order_by(Rollup.ts)
            .tuples()
        ]
        raws = [
            (ts / 1000, repr(v), "", "")
            for ts, v in Sample.select(Sample.ts, Sample.value)
            .where((Sample.series_id == series.id) & (Sample.ts >= pruned) & (Sample.ts < hi))
            .order_by(Sample.ts)
            .tuples()
        ]
        exported = [r for r in rows if r["series"] == name]
        assert [
            (float(r["ts"]), r["value"], r["min"], r["max"]) for r in exported
        ] == rollups + raws
        assert len(rollups) >= 40 and len(raws) >= 40
        assert {r["unit"] for r in exported} == {unit}
        for r in exported:
            assert datetime.fromisoformat(r["time"]).timestamp() == float(r["ts"])

    # One series, by name; a range with nothing in it is a header, not an error.
    beer = await _csv(api, series="sensor/sim/beer", from_=end - 60, to=end)
    assert [float(r["ts"]) for r in beer] == [end - 60 + 10 * i for i in range(6)]
    assert await _csv(api, series="sensor/sim/beer", from_=T0 - DAY, to=T0 - 1) == []


async def test_wide_format_has_a_row_per_time_and_a_column_per_series_in_fahrenheit(
    api: Api,
) -> None:
    samples = [
        SampleIn("loop/f/pv", "loop", "°C", T0, 20.0),
        SampleIn("sensor/ispindel/gravity", "sensor", "SG", T0, 1.05),
        SampleIn("loop/f/pv", "loop", "°C", T0 + 10, 21.0),
    ]
    await api.recorder.in_writer(api.recorder.writer.write, Batch(samples=samples))
    query = {
        "series": "loop/f/pv,sensor/ispindel/gravity",
        "from": str(T0 - 1),
        "to": str(T0 + 60),
        "format": "wide",
        "unit": "F",
    }
    async with api.client.get("/api/history/export.csv", params=query) as resp:
        assert resp.status == 200, await resp.text()
        lines = (await resp.text()).splitlines()
    assert lines[0] == "time,ts,loop/f/pv [°F],sensor/ispindel/gravity [SG]"
    rows = list(csv.reader(lines[1:]))
    assert [(float(r[1]), r[2], r[3]) for r in rows] == [
        (T0, "68.0", "1.05"),
        (T0 + 10, "69.8", ""),
    ]
    async with api.client.get(
        "/api/history/export.csv", params={**query, "format": "tall"}
    ) as resp:
        assert resp.status == 400
        assert (await resp.json())["detail"][0]["field"] == "format"
