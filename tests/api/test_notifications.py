"""Notifications reach real servers on loopback: SMTP, a webhook, an ntfy stand-in.

Alarms are published as the controller publishes them (retained full records on
`maelstrom/alarms/<id>`); timed behaviour (escalation, back-off, rate limits) runs
on a SimClock given to the API.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from services.api.alarm_book import ALARMS
from services.api.live import LIVE
from services.api.notifications import NOTIFIER
from services.common.clock import SimClock
from services.common.config import Config
from services.common.schema.alarms import Alarm
from tests.api.conftest import FERMENTER_DEVICE, FERMENTER_LOOP, create, start_api
from tests.support.probe import MqttProbe, received
from tests.support.receiver import HttpReceiver, SmtpReceiver
from tests.support.waiting import eventually

PUBLIC_URL = "http://brew.example:8888"
T0 = 1_767_261_600.0  # 2026-01-01 10:00 UTC: outside any quiet hours below


def fv1_state(pv: float = 26.3) -> dict[str, Any]:
    return {
        "loop": "fv1",
        "name": "FV1",
        "pv": pv,
        "sp": 19.0,
        "output": {"heat": 0, "cool": 100},
        "mode": "constant",
        "state": "cooling",
        "ts": T0,
    }


def alarm_record(alarm_id: str, raised_at: float, **extra: Any) -> dict[str, Any]:
    record = {
        "id": alarm_id,
        "message": "FV1 beer above its high limit 25.0 °C",
        "kind": "high",
        "severity": "high",
        "source": "fv1",
        "state": "active",
        "acknowledged": False,
        "raised_at": raised_at,
        "ts": raised_at,
    }
    return {**record, **extra}


async def publish_alarm(
    api: TestClient, probe: MqttProbe, record: dict[str, Any], empty: bool = False
) -> None:
    """Publish as the controller does, and return once the API has taken it in."""
    alarm_id = record["id"]
    seen: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def listener(got_id: str, alarm: Alarm | None) -> None:
        if got_id != alarm_id or seen.done():
            return
        expected = {k: v for k, v in record.items() if k != "id"}.items()
        if alarm is None:
            done = empty
        else:
            done = not empty and alarm.model_dump(mode="json").items() >= expected
        if done:
            seen.set_result(None)

    api.app[ALARMS].add_listener(listener)  # type: ignore[index]
    topic = f"maelstrom/alarms/{alarm_id}"
    await asyncio.to_thread(probe.publish, topic, b"" if empty else record, True)
    await asyncio.wait_for(seen, 10)


async def put(api: TestClient, path: str, body: dict[str, Any], status: int = 201) -> Any:
    resp = await api.put(path, json=body)
    data = await resp.json()
    assert resp.status == status, data
    return data


async def setup_fermenter(api: TestClient, probe: MqttProbe) -> None:
    await create(api, "devices", FERMENTER_DEVICE)
    await create(api, "loops", FERMENTER_LOOP)
    await asyncio.to_thread(probe.publish, "maelstrom/data/fv1", fv1_state(), True)
    notifier = api.app[NOTIFIER]  # type: ignore[index]
    for _ in range(200):  # the retained state comes back through the broker
        if "fv1" in notifier.loop_states:
            break
        await asyncio.sleep(0.01)
    assert "fv1" in notifier.loop_states


@pytest.fixture
async def http() -> AsyncIterator[HttpReceiver]:
    server = await HttpReceiver().start()
    yield server
    await server.stop()


@pytest.fixture
def public_config(config: Config) -> Config:
    return dataclasses.replace(config, public_url=PUBLIC_URL)


@pytest.fixture
def clock() -> SimClock:
    return SimClock(T0)


@pytest.fixture
async def sim_api(public_config: Config, clock: SimClock) -> AsyncIterator[TestClient]:
    client = await start_api(public_config, clock)
    yield client
    await client.close()


async def settle(api: TestClient, clock: SimClock, seconds: float = 0.0) -> None:
    notifier = api.app[NOTIFIER]  # type: ignore[index]
    await notifier.settled()
    if seconds:
        await clock.advance(seconds, settle=notifier.settled)


def from_clock(clock: SimClock) -> Callable[[], float]:
    return clock.now


# --- delivery to real servers ------------------------------------------------------------------


async def test_sensor_alarm_reaches_smtp_with_loop_value_and_link(
    public_config: Config, probe: MqttProbe
) -> None:
    smtp = SmtpReceiver().start()
    api = await start_api(public_config)
    try:
        await setup_fermenter(api, probe)
        url = f"mailto://127.0.0.1:{smtp.port}?from=maelstrom@brew.example&to=brewer@brew.example"
        await put(api, "/api/notifications/targets/mail", {"name": "Mail", "url": url})
        await put(api, "/api/notifications/rules/all", {"targets": ["mail"]})
        record = alarm_record(
            "fv1-sensor",
            T0,
            kind="sensor",
            message="FV1 sensor ferm/beer lost",
            severity="critical",
        )
        await publish_alarm(api, probe, record)
        [(rcpt, mail)] = await smtp.wait_for(1)
    finally:
        await api.close()
        smtp.stop()
    assert rcpt == ["brewer@brew.example"]
    assert "CRITICAL" in mail["Subject"] and "sensor ferm/beer lost" in mail["Subject"]
    text = mail.get_body(("plain", "html")).get_content()  # type: ignore[union-attr]
    assert "loop FV1 (fv1)" in text
    assert "26.3 °C (setpoint 19.0 °C)" in text
    assert f"{PUBLIC_URL}/#/alarms" in text
    assert "Since: 2026-01-01" in text


async def test_json_and_ntfy_posts_and_secrets_masked(
    public_config: Config, probe: MqttProbe, http: HttpReceiver
) -> None:
    api = await start_api(public_config)
    try:
        await setup_fermenter(api, probe)
        hook = f"json://hook:s3cretpass@127.0.0.1:{http.port}/hook"
        ntfy = f"ntfy://127.0.0.1:{http.port}/brewery-alarms"
        got = await put(api, "/api/notifications/targets/hook", {"url": hook})
        assert "s3cretpass" not in str(got) and got["url"].startswith("json://hook:****@")
        await put(api, "/api/notifications/targets/ntfy", {"url": ntfy})
        await put(api, "/api/notifications/rules/all", {"targets": ["hook", "ntfy"]})
        await publish_alarm(api, probe, alarm_record("fv1-high", T0))
        requests = await http.wait_for(2)
        listed = await (await api.get("/api/notifications")).text()
        # Rewriting a target without its URL (or with the masked one) keeps the secret.
        await put(api, "/api/notifications/targets/hook", {"name": "Webhook"}, status=200)
        await put(api, "/api/notifications/targets/hook", got, status=200)
        resp = await api.post("/api/notifications/test", json={"target": "hook"})
        result = await resp.json()
        assert resp.status == 200 and result["ok"] is True, result
        after_test = await http.wait_for(3)
    finally:
        await api.close()
    assert "s3cretpass" not in listed
    by_path = {r.path.split("?")[0]: r for r in requests}
    posted = by_path["/hook"].json()
    assert posted["type"] == "failure"
    assert "HIGH alarm: FV1 beer above its high limit 25.0 °C" in posted["title"]
    assert "26.3 °C" in posted["message"] and f"{PUBLIC_URL}/#/alarms" in posted["message"]
    assert by_path["/hook"].headers["Authorization"].startswith("Basic ")
    ntfy_post = next(r for r in requests if r is not by_path["/hook"])
    payload = ntfy_post.json()
    assert payload["topic"] == "brewery-alarms"
    assert "beer above its high limit" in payload["title"]
    assert "Current value: 26.3 °C" in payload["message"]
    assert after_test[-1].json()["title"] == "Maelstrom test notification"


async def test_test_send_reports_failure_and_bad_input(api: TestClient) -> None:
    resp = await api.put("/api/notifications/targets/nope", json={"url": "nonsense://x"})
    assert resp.status == 422
    assert (await resp.json())["detail"][0]["field"] == "url"
    resp = await api.post("/api/notifications/test", json={"target": "absent"})
    assert resp.status == 404
    resp = await api.put("/api/notifications/rules/r", json={"targets": ["absent"]})
    assert resp.status == 422
    closed = "json://127.0.0.1:9/hook"  # discard port: nothing listens
    await put(api, "/api/notifications/targets/dead", {"url": closed})
    resp = await api.post("/api/notifications/test", json={"target": "dead"})
    result = await resp.json()
    assert resp.status == 200 and result["ok"] is False and result["error"]
    targets = await (await api.get("/api/notifications/targets")).json()
    assert targets[0]["status"]["state"] == "failing"


# --- timed behaviour on a simulated clock ------------------------------------------------------


async def test_escalation_reminders_second_target_and_resolved(
    sim_api: TestClient, clock: SimClock, probe: MqttProbe, http: HttpReceiver
) -> None:
    api = sim_api
    await setup_fermenter(api, probe)
    await put(
        api, "/api/notifications/targets/brewer", {"url": f"json://127.0.0.1:{http.port}/brewer"}
    )
    await put(api, "/api/notifications/targets/boss", {"url": f"json://127.0.0.1:{http.port}/boss"})
    rule = {
        "targets": ["brewer"],
        "repeat_every_min": 10,
        "escalate_after_min": 30,
        "escalate_to": ["boss"],
    }
    await put(api, "/api/notifications/rules/high", rule)

    def sent() -> list[tuple[str, str]]:
        return [(r.path, r.json()["title"].split(":")[0]) for r in http.requests]

    await publish_alarm(api, probe, alarm_record("fv1-high", T0))
    await settle(api, clock)
    assert sent() == [("/brewer", "HIGH alarm")]
    await settle(api, clock, 9 * 60)
    assert len(sent()) == 1  # nothing before N minutes
    await settle(api, clock, 60)
    assert sent()[1:] == [("/brewer", "Reminder")]
    await settle(api, clock, 20 * 60)  # t = 30 min: third reminder, and escalation
    assert sent()[2] == ("/brewer", "Reminder")
    assert sorted(sent()[3:]) == [("/boss", "ESCALATED"), ("/brewer", "Reminder")]
    # Escalated: reminders now go to both. (+30 s: on a loaded machine the worker's pass
    # for t = 30 min may run a moment of simulated time late, and the next follows it.)
    await settle(api, clock, 10 * 60 + 30)
    assert sorted(sent()[5:]) == [("/boss", "Reminder"), ("/brewer", "Reminder")]
    acked = alarm_record("fv1-high", T0, acknowledged=True, acknowledged_by="anna")
    await publish_alarm(api, probe, acked)
    await settle(api, clock, 60 * 60)
    assert len(sent()) == 7  # acknowledged: no more reminders
    cleared = {**acked, "state": "cleared", "cleared_at": clock.now()}
    await publish_alarm(api, probe, cleared)
    await settle(api, clock)
    assert sorted(sent()[7:]) == [("/boss", "Resolved"), ("/brewer", "Resolved")]
    assert "after 1 h 40 min" in http.requests[-1].json()["message"]


async def test_api_restart_between_raise_and_delivery_delivers_exactly_once(
    public_config: Config, probe: MqttProbe
) -> None:
    clock = SimClock(T0)
    server = HttpReceiver(from_clock(clock))  # not started yet: the first attempt fails
    api = await start_api(public_config, clock)
    try:
        await put(
            api, "/api/notifications/targets/hook", {"url": f"json://127.0.0.1:{server.port}/h"}
        )
        await put(api, "/api/notifications/rules/all", {"targets": ["hook"]})
        await publish_alarm(
            api, probe, alarm_record("board", T0, source="ferm", kind="board_offline")
        )
        await settle(api, clock)
        [row] = await (await api.get("/api/notifications/deliveries")).json()
        assert row["state"] == "pending" and row["attempts"] == 1
    finally:
        await api.close()
    await server.start()
    try:
        clock2 = SimClock(T0 + 120)  # the API comes back two minutes later
        api = await start_api(public_config, clock2)
        try:
            await settle(api, clock2)
            await server.wait_for(1)
            await settle(api, clock2, 3600)  # the retained alarm seen again: no second message
            [row] = await (await api.get("/api/notifications/deliveries")).json()
        finally:
            await api.close()
    finally:
        await server.stop()
    assert len(server.requests) == 1
    assert row["state"] == "sent" and row["attempts"] == 2
    assert "Where: ferm" in server.requests[0].json()["message"]


async def test_chattering_alarm_is_rate_limited_into_a_digest(
    sim_api: TestClient, clock: SimClock, probe: MqttProbe, http: HttpReceiver
) -> None:
    api = sim_api
    await put(
        api,
        "/api/notifications/targets/hook",
        {"url": f"json://127.0.0.1:{http.port}/h", "max_per_hour": 3},
    )
    await put(api, "/api/notifications/rules/all", {"targets": ["hook"]})
    for i in range(20):  # raised and cleared 20 times within a few minutes
        raised = T0 + i * 10
        await publish_alarm(api, probe, alarm_record("chatter", raised, severity="medium"))
        cleared = alarm_record(
            "chatter", raised, severity="medium", state="cleared", cleared_at=raised + 5
        )
        await publish_alarm(api, probe, cleared)
        await settle(api, clock, 10)
    assert len(http.requests) == 3
    await settle(api, clock, 3600)
    assert len(http.requests) == 4
    digest = http.requests[-1].json()
    assert digest["title"] == "37 Maelstrom notifications"
    log = await (await api.get("/api/notifications/deliveries?limit=100")).json()
    assert len(log) == 40 and all(row["state"] == "sent" for row in log)


async def test_failing_target_is_retried_with_backoff_and_marked_failing(
    sim_api: TestClient, clock: SimClock, probe: MqttProbe
) -> None:
    api = sim_api
    server = await HttpReceiver(from_clock(clock)).start()
    server.status = 500
    try:
        mark = probe.subscribe("maelstrom/logs/api").mark()
        await put(
            api, "/api/notifications/targets/hook", {"url": f"json://127.0.0.1:{server.port}/h"}
        )
        await put(api, "/api/notifications/rules/all", {"targets": ["hook"]})
        await publish_alarm(api, probe, alarm_record("fv1-high", T0))
        await settle(api, clock)
        for _ in range(4):
            await settle(api, clock, 30)
        await settle(api, clock, 400)
        times = [r.at - T0 for r in server.requests]
        [target] = await (await api.get("/api/notifications/targets")).json()
        logged = await received(
            probe, "maelstrom/logs/api", lambda m: "notification to hook" in m.text, since=mark
        )
        server.status = 200
        await settle(api, clock, 600)
        [after] = await (await api.get("/api/notifications/targets")).json()
        [row] = await (await api.get("/api/notifications/deliveries")).json()
    finally:
        await server.stop()
    assert times == [0, 30, 90, 210, 450]  # 30 s, then doubling
    assert target["status"]["state"] == "failing" and target["status"]["failures"] == 5
    assert "500" in target["status"]["last_error"]
    assert logged.json()["level"] == "warning"
    assert after["status"]["state"] == "ok"
    assert row["state"] == "sent" and row["attempts"] == 6


# --- quiet hours -------------------------------------------------------------------------------


def test_quiet_hours_window_across_midnight_and_within_a_day() -> None:
    from services.api.notifications.notifier import in_quiet_hours
    from services.api.notifications.schema import QuietHours

    night = QuietHours.model_validate({"start": "22:00", "end": "07:00", "timezone": "UTC"})
    ten_pm = T0 + 12 * 3600  # 22:00 UTC
    assert in_quiet_hours(night, ten_pm) == T0 + 21 * 3600  # 07:00 next day
    assert in_quiet_hours(night, T0 - 4 * 3600) == T0 - 3 * 3600  # 06:00 → 07:00
    assert in_quiet_hours(night, T0) is None  # 10:00
    lunch = QuietHours.model_validate({"start": "12:00", "end": "13:00", "timezone": "UTC"})
    assert in_quiet_hours(lunch, T0 + 2.5 * 3600) == T0 + 3 * 3600
    assert in_quiet_hours(lunch, T0) is None


async def test_quiet_hours_hold_medium_alarms_never_high(
    sim_api: TestClient, clock: SimClock, probe: MqttProbe, http: HttpReceiver
) -> None:
    api = sim_api
    await put(api, "/api/notifications/targets/hook", {"url": f"json://127.0.0.1:{http.port}/h"})
    quiet = {"start": "09:00", "end": "11:00", "timezone": "UTC"}  # T0 is 10:00 UTC
    await put(api, "/api/notifications/rules/all", {"targets": ["hook"], "quiet_hours": quiet})
    await publish_alarm(api, probe, alarm_record("fridge-door", T0, severity="medium"))
    await publish_alarm(api, probe, alarm_record("fv1-high", T0, severity="high"))
    await settle(api, clock)
    assert [r.json()["title"].split(":")[0] for r in http.requests] == ["HIGH alarm"]
    await settle(api, clock, 59 * 60)
    assert len(http.requests) == 1
    await settle(api, clock, 60)  # 11:00: the medium one goes out
    assert "MEDIUM alarm" in http.requests[1].json()["title"]


# --- a silent controller -----------------------------------------------------------------------


async def test_a_controller_offline_for_a_minute_is_a_critical_alarm_and_resolves(
    sim_api: TestClient, clock: SimClock, probe: MqttProbe, http: HttpReceiver
) -> None:
    api = sim_api
    await put(api, "/api/notifications/targets/hook", {"url": f"json://127.0.0.1:{http.port}/h"})
    await put(api, "/api/notifications/rules/all", {"targets": ["hook"]})
    probe.subscribe("maelstrom/alarms/#")
    book = api.app[ALARMS]  # type: ignore[index]
    seen: asyncio.Queue[Alarm | None] = asyncio.Queue()
    book.add_listener(
        lambda i, a: seen.put_nowait(a) if i == "service-controller-offline" else None
    )
    await asyncio.to_thread(probe.publish, "maelstrom/status/controller", "offline", True)
    # the API has heard it (the grace starts then) before simulated time moves on
    live = api.app[LIVE]  # type: ignore[index]
    await eventually(lambda: live.services.get("controller") is False, 10, "the API hears offline")
    await settle(api, clock, 30)
    assert book.get("service-controller-offline") is None  # a restart is not an alarm
    await settle(api, clock, 31)
    raised = await asyncio.wait_for(seen.get(), 10)
    assert raised is not None and raised.severity == "critical" and raised.source == "controller"
    await settle(api, clock)
    assert "CRITICAL alarm: The controller is offline" in http.requests[0].json()["title"]
    await asyncio.to_thread(probe.publish, "maelstrom/status/controller", "online", True)
    cleared = await asyncio.wait_for(seen.get(), 10)
    assert cleared is not None and cleared.state == "cleared"
    await settle(api, clock)
    assert http.requests[-1].json()["title"].startswith("Resolved: The controller is offline")
