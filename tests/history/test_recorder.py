"""The recorder against a real broker: what is published is what the REST API gives back."""

from __future__ import annotations

import time

from tests.history.conftest import Api, loop_state, reading
from tests.support.probe import MqttProbe


async def test_loop_state_and_sensor_readings_become_series(api: Api, probe: MqttProbe) -> None:
    t0 = round(time.time()) - 100.0
    for i in range(10):
        probe.publish(
            "maelstrom/data/fermenter",
            loop_state("fermenter", t0 + i, pv=18.0 + i / 16, sp=18.0, cool=10.0 * i),
            retain=True,
        )
        probe.publish(
            "maelstrom/data/sensors/ispindel/gravity", reading(1.050 - i / 1000, t0 + i, "SG")
        )
    await api.received(10 * (4 + 3 + 1))  # 4 samples and 3 events per state, 1 reading

    series = await api.series()
    assert set(series) >= {
        "loop/fermenter/pv",
        "loop/fermenter/sp",
        "loop/fermenter/heat",
        "loop/fermenter/cool",
        "sensor/ispindel/gravity",
    }
    assert series["sensor/ispindel/gravity"]["unit"] == "SG"
    assert series["loop/fermenter/pv"]["unit"] == "°C"
    assert series["loop/fermenter/cool"]["unit"] == "%"
    assert series["loop/fermenter/pv"]["count"] == 10
    assert (
        series["loop/fermenter/pv"]["first"] == t0 and series["loop/fermenter/pv"]["last"] == t0 + 9
    )

    status, body = await api.get(
        "/api/history", series="loop/fermenter/pv,sensor/ispindel/gravity", from_=t0, to=t0 + 20
    )
    assert status == 200, body
    pv, gravity = body["series"]
    assert pv["bucket_s"] == 0
    assert pv["t"] == [t0 + i for i in range(10)]
    assert pv["avg"] == [18.0 + i / 16 for i in range(10)]
    assert gravity["avg"] == [1.050 - i / 1000 for i in range(10)]

    status, body = await api.get("/api/history/events", loop="fermenter", from_=t0 - 1, to=t0 + 20)
    assert [(e["kind"], e["value"]) for e in body["events"]] == [
        ("mode", "constant"),
        ("state", "idle"),
        ("profile", None),
    ]
