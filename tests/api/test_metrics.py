"""`GET /metrics` parses with prometheus-client's own parser and carries live values."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.support.probe import MqttProbe


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


async def scrape_until(api: TestClient, name: str, labels: dict[str, str]) -> dict[Any, float]:
    """Scrape until a sample appears (the retained message crosses the broker first)."""
    key = (name, tuple(sorted(labels.items())))
    for _ in range(200):
        resp = await api.get("/metrics")
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain; version=")
        got = samples(await resp.text())
        if key in got:
            return got
        await asyncio.sleep(0.02)  # polling a scrape, as Prometheus does
    raise AssertionError(f"{key} never appeared")


async def test_metrics_carry_the_loops_live_pv(api: TestClient, probe: MqttProbe) -> None:
    state = {
        "loop": "fv1",
        "name": "FV1",
        "pv": 18.75,
        "sp": 19.0,
        "output": {"heat": 35.0, "cool": 0.0},
        "mode": "constant",
        "state": "heating",
        "relay_starts": {"heater": 12},
        "ts": 1_767_225_600.0,
    }
    probe.publish("maelstrom/data/fv1", json.dumps(state), retain=True)
    reading = {"value": 18.75, "unit": "°C", "ts": 1_767_225_600.0}
    probe.publish("maelstrom/data/sensors/ferm/beer", json.dumps(reading), retain=True)
    probe.publish("maelstrom/status/controller", "online", retain=True)
    got = await scrape_until(api, "maelstrom_loop_pv_celsius", {"loop": "fv1"})
    assert got[("maelstrom_loop_pv_celsius", (("loop", "fv1"),))] == 18.75

    state["pv"] = 18.9  # live: the next scrape has the new value
    probe.publish("maelstrom/data/fv1", json.dumps(state), retain=True)
    for _ in range(200):
        got = samples(await (await api.get("/metrics")).text())
        if got[("maelstrom_loop_pv_celsius", (("loop", "fv1"),))] == 18.9:
            break
        await asyncio.sleep(0.02)
    assert got[("maelstrom_loop_pv_celsius", (("loop", "fv1"),))] == 18.9
    assert got[("maelstrom_loop_setpoint_celsius", (("loop", "fv1"),))] == 19.0
    assert got[("maelstrom_loop_output_percent", (("loop", "fv1"), ("output", "heat")))] == 35.0
    assert got[("maelstrom_loop_state", (("loop", "fv1"), ("state", "heating")))] == 1.0
    assert got[("maelstrom_loop_state", (("loop", "fv1"), ("state", "cooling")))] == 0.0
    heater = (("loop", "fv1"), ("output", "heater"))
    assert got[("maelstrom_loop_relay_starts_total", heater)] == 12.0
    sensor = (("device", "ferm"), ("sensor", "beer"), ("unit", "°C"))
    got = await scrape_until(api, "maelstrom_sensor_value", dict(sensor))
    assert got[("maelstrom_sensor_value", sensor)] == 18.75
    assert got[("maelstrom_sensor_age_seconds", (("device", "ferm"), ("sensor", "beer")))] > 0
    got = await scrape_until(api, "maelstrom_service_up", {"service": "controller"})
    assert got[("maelstrom_service_up", (("service", "controller"),))] == 1.0
    assert got[("maelstrom_service_up", (("service", "api"),))] == 1.0
    assert got[("maelstrom_api_mqtt_messages_total", (("direction", "in"),))] > 0
    assert ("maelstrom_notification_deliveries_total", ()) in got
    assert ("maelstrom_bridge_browsers", ()) in got
