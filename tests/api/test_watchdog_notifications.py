"""End to end: a watchdog alarm raised by the controller reaches the brewer's phone.

The API (real aiohttp, SQLite, broker) configures a fermenter over REST; a controller
drives the simulated fermenter on a simulated clock; the compressor loses its gas on a
hot day; the band alarm travels controller → broker → API → Apprise → a real HTTP
server standing in for the brewer's webhook, saying what, where, since when and the
value now.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from aiohttp.test_utils import TestClient

from services.common.config import Config
from tests.api.conftest import FERMENTER_DEVICE, FERMENTER_LOOP, create, start_api
from tests.api.test_metrics import scrape_until
from tests.controller.support import DAYS_OF_READINGS, HOUR, sim_controller
from tests.support.probe import MqttProbe
from tests.support.receiver import HttpReceiver

PUBLIC_URL = "http://brew.example:8888"


async def test_a_band_alarm_reaches_a_webhook(config: Config, probe: MqttProbe) -> None:
    http = await HttpReceiver().start()
    api = await start_api(dataclasses.replace(config, public_url=PUBLIC_URL))
    try:
        target = {"name": "Phone", "url": f"json://127.0.0.1:{http.port}/brewer"}
        resp = await api.put("/api/notifications/targets/phone", json=target)
        assert resp.status == 201, await resp.text()
        rule = {"targets": ["phone"], "kinds": ["band"]}
        resp = await api.put("/api/notifications/rules/watchdogs", json=rule)
        assert resp.status == 201, await resp.text()
        await create(api, "devices", FERMENTER_DEVICE)
        loop = {
            **FERMENTER_LOOP,
            "alarms": {"stale_after_s": 300},  # a reading a minute, as DAYS_OF_READINGS
            "watchdogs": {"band_c": 1.0, "band_s": 1200},
        }
        stored = await create(api, "loops", loop)
        assert stored["watchdogs"]["band_s"] == 1200
        async with sim_controller(config, DAYS_OF_READINGS) as run:
            await run.running("fv1")
            fv1, sim = run.loop("fv1"), run.sim("ferm")
            await run.advance_until(lambda: abs(fv1.pv - 19.0) < 0.5, 6 * HOUR, step=300)
            sim.plant.p.cooling_w = 0.0  # the compressor runs, nothing cools
            sim.plant.p.ambient_c = 30.0
            await run.advance_until(lambda: run.ctl.alarms.is_active("fv1-band"), 6 * HOUR, step=60)
            [post] = await http.wait_for(1)
            # and Prometheus sees the compressor's starts, from the same live state
            cooler = (("loop", "fv1"), ("output", "cooler"))
            starts = "maelstrom_loop_relay_starts_total"
            got = await scrape_until(api, starts, dict(cooler))
            assert got[(starts, cooler)] >= 1
    finally:
        await api.close()
        await http.stop()
    assert post.path.startswith("/brewer")
    sent = post.json()
    assert sent["type"] == "failure"
    assert sent["title"].startswith("MEDIUM alarm: FV1: 20."), sent["title"]
    assert "above the setpoint 19.0 °C (band ± 1 °C) since 20" in sent["title"]
    body = sent["message"]
    assert "Where: loop FV1 (fv1)" in body, body
    assert "Since: 20" in body and "Current value: 20." in body, body
    assert "(setpoint 19.0 °C)" in body and f"{PUBLIC_URL}/#/alarms" in body, body


async def test_watchdog_settings_are_validated(api: TestClient) -> None:
    await create(api, "devices", FERMENTER_DEVICE)
    for watchdogs, where in (
        ({"band_c": -1}, "watchdogs.band_c"),
        ({"silent_reports": 2.5}, "watchdogs.silent_reports"),
        ({"step_wait_s": 1e9}, "watchdogs.step_wait_s"),
        ({"band_minutes": 5}, "watchdogs.band_minutes"),  # a typo is refused, not ignored
    ):
        resp = await api.post("/api/loops", json={**FERMENTER_LOOP, "watchdogs": watchdogs})
        body = await resp.json()
        assert resp.status == 422, body
        assert body["detail"][0]["field"] == where, body
    stored = await create(api, "loops", {**FERMENTER_LOOP, "watchdogs": {"band_s": 0}})
    assert stored["watchdogs"] == {
        "band_c": None,
        "band_s": 0.0,  # off; the rest: the fermenter's defaults
        "silent_reports": None,
        "silent_min_s": None,
        "step_wait_s": None,
        "step_reach_s": None,
    }
    spec = await (await api.get("/api/openapi.json")).json()
    assert "Watchdogs" in spec["components"]["schemas"]


async def test_the_docs_patch_sets_a_loops_watchdogs(api: TestClient) -> None:
    """docs/notifications.md's curl line, as it is written there."""
    await create(api, "devices", FERMENTER_DEVICE)
    await create(api, "loops", {**FERMENTER_LOOP, "id": "fermenter"})
    docs = (Path(__file__).parents[2] / "docs" / "notifications.md").read_text()
    body = re.search(r"PATCH http://localhost:8888/api/loops/fermenter .* -d '(.*)'", docs)
    assert body is not None
    resp = await api.patch(
        "/api/loops/fermenter", data=body[1], headers={"Content-Type": "application/json"}
    )
    loop = await resp.json()
    assert resp.status == 200, loop
    assert loop["watchdogs"]["band_c"] == 0.5 and loop["watchdogs"]["silent_reports"] == 0
