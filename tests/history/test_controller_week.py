"""A week of the controller's own simulation, recorded and read back as a brewer's chart.

The controller's control code (`LoopControl`, as the service runs it) holds the
simulated fermenter (`services.controller.sim.physics`) through the first week of
the ten-day ale profile; every reading and the loop's state go through the
recorder's message handler with their own timestamps, then the week is queried
back as the dashboard asks for it.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import time

import pytest

from bench.bench_controller import Ours, ale_profile, fermenter_loop
from services.common.mqtt import Message
from services.common.profiles import Schedule
from services.controller.devices.protocol import TEMP_SCALE, to_raw
from services.controller.sim import closed_loop
from services.controller.sim.physics import Fermenter, FermenterParams
from tests.history.conftest import Api

DAY = 86_400.0
WEEK = 7 * DAY
PERIOD_S = 5.0
BEER = "sensor/sim-fermenter/beer"


@pytest.mark.slow
async def test_a_week_of_the_controllers_simulation_reads_back_as_it_ran(api: Api) -> None:
    schedule = Schedule.of(ale_profile())
    trace = closed_loop.run(
        Fermenter(FermenterParams()),
        Ours(fermenter_loop()),
        lambda t: schedule.setpoint(t) or 0.0,
        WEEK,
        sensor="beer",
        heater="heater",
        cooler="cooler",
        period=PERIOD_S,
        noise_c=0.0,
    )
    readings = [to_raw(pv) / TEMP_SCALE for pv in trace.pv]  # what the DS18B20 reported
    t0 = float(round(time.time()) - WEEK)  # the week ends now: nothing old enough to retire

    recorder = api.recorder
    for i, t in enumerate(trace.times):
        ts = t0 + t
        reading = {"value": readings[i], "unit": "°C", "ts": ts}
        recorder.receive(
            Message("maelstrom/data/sensors/sim-fermenter/beer", json.dumps(reading).encode())
        )
        if i % 12 == 0:  # the loop's state once a minute
            state = {
                "loop": "fermenter",
                "pv": readings[i],
                "sp": trace.sp[i],
                "output": {"heat": 100.0 * trace.heat[i], "cool": 100.0 * trace.cool[i]},
                "mode": "profile",
                "state": "cooling" if trace.cool[i] else "heating" if trace.heat[i] else "idle",
                "ts": ts,
            }
            recorder.receive(Message("maelstrom/data/fermenter", json.dumps(state).encode()))
        if i % 5000 == 0:
            await asyncio.sleep(0)  # let the batch loop write, as live traffic would
    await recorder.flush()

    status, body = await api.get(
        "/api/history", series=f"{BEER},loop/fermenter/sp", from_=t0, to=t0 + WEEK, points=1000
    )
    assert status == 200, body
    beer, sp = body["series"]
    assert 0 < len(beer["t"]) <= 1000
    # The chart keeps the week's true extremes: pitching warm, the ramp's overshoot.
    assert max(beer["max"]) == max(readings)
    assert min(beer["min"]) == min(readings)
    assert max(sp["max"]) == 21.0 and min(sp["min"]) == 18.0

    # What the brewer reads off the chart is what the controller did: once settled on
    # the 21 °C hold (day 4.5 to 7), every bucket stays within ±0.5 °C of it.
    held = [
        (lo, hi)
        for t, lo, hi in zip(beer["t"], beer["min"], beer["max"], strict=True)
        if t0 + 4.5 * DAY <= t and t + beer["bucket_s"] <= t0 + WEEK
    ]
    assert held and all(lo >= 20.5 and hi <= 21.5 for lo, hi in held)
    expected = [r for t, r in zip(trace.times, readings, strict=True) if 4.5 * DAY <= t < WEEK]
    assert min(lo for lo, _ in held) >= min(expected) and max(hi for _, hi in held) <= max(expected)

    # The CSV export of the hold holds every stored reading in that range, in order.
    status, text = await api.get(
        "/api/history/export.csv", series=BEER, from_=t0 + 5 * DAY, to=t0 + 5 * DAY + 3600
    )
    assert status == 200
    rows = list(csv.DictReader(io.StringIO(text)))
    values = [float(row["value"]) for row in rows if row["series"] == BEER and row["value"]]
    assert len(values) > 10 and all(20.5 <= v <= 21.5 for v in values)
