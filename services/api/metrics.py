"""`GET /metrics`: the brewery in Prometheus' text format (prometheus-client).

Everything is read at scrape time from what the API already sees on the broker
(the retained loop states, sensor readings and service status in `live`) and from its own parts
(MQTT client, bridge, notifier, alarm book), through one custom collector on a
registry of this app's own, so two apps in one process (tests) never share
metrics and nothing is counted twice.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Iterator
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from services.api.alarm_book import ALARMS
from services.api.live import LIVE, Live
from services.api.models import NotificationRow, StreamPostRow
from services.api.notifications import NOTIFIER
from services.api.streams import STREAMER
from services.bridge.socket import HUB
from services.common.clock import Clock
from services.common.web import MQTT, app_clock

LOOP_STATES = ("heating", "cooling", "idle", "waiting", "off", "fault")


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


class BreweryCollector:
    def __init__(self, app: web.Application, live: Live, clock: Clock) -> None:
        self.app = app
        self.live = live
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        yield from self._loops()
        yield from self._sensors()
        yield from self._services()
        yield from self._parts()

    def _loops(self) -> Iterator[Metric]:
        pv = GaugeMetricFamily("maelstrom_loop_pv_celsius", "Process value (°C).", labels=["loop"])
        sp = GaugeMetricFamily("maelstrom_loop_setpoint_celsius", "Setpoint (°C).", labels=["loop"])
        out = GaugeMetricFamily(
            "maelstrom_loop_output_percent", "Output duty (%).", labels=["loop", "output"]
        )
        state = GaugeMetricFamily(
            "maelstrom_loop_state", "1 for the loop's current state.", labels=["loop", "state"]
        )
        mode = GaugeMetricFamily(
            "maelstrom_loop_mode", "1 for the loop's current mode.", labels=["loop", "mode"]
        )
        starts = CounterMetricFamily(
            "maelstrom_loop_relay_starts",
            "Relay switch-ons since the controller started (a compressor's wear).",
            labels=["loop", "output"],
        )
        for loop_id, data in sorted(self.live.loops.items()):
            if (v := _number(data.get("pv"))) is not None:
                pv.add_metric([loop_id], v)
            if (v := _number(data.get("sp"))) is not None:
                sp.add_metric([loop_id], v)
            output = data.get("output") if isinstance(data.get("output"), dict) else {}
            for name in ("heat", "cool"):
                out.add_metric([loop_id, name], _number(output.get(name)) or 0.0)
            current = str(data.get("state", ""))
            for name in LOOP_STATES:
                state.add_metric([loop_id, name], 1.0 if name == current else 0.0)
            if data.get("mode"):
                mode.add_metric([loop_id, str(data["mode"])], 1.0)
            relay_starts = data.get("relay_starts")
            for role, count in (relay_starts if isinstance(relay_starts, dict) else {}).items():
                if (v := _number(count)) is not None:
                    starts.add_metric([loop_id, str(role)], v)
        yield from (pv, sp, out, state, mode, starts)

    def _sensors(self) -> Iterator[Metric]:
        value = GaugeMetricFamily(
            "maelstrom_sensor_value", "Last reading.", labels=["device", "sensor", "unit"]
        )
        age = GaugeMetricFamily(
            "maelstrom_sensor_age_seconds",
            "Seconds since the last reading.",
            labels=["device", "sensor"],
        )
        ok = GaugeMetricFamily(
            "maelstrom_sensor_ok", "1 when the reading is good.", labels=["device", "sensor"]
        )
        now = self.clock.now()
        for (device, sensor), data in sorted(self.live.sensors.items()):
            reading = _number(data.get("value"))
            if reading is not None:
                value.add_metric([device, sensor, str(data.get("unit", ""))], reading)
            if (ts := _number(data.get("ts"))) is not None:
                age.add_metric([device, sensor], max(0.0, now - ts))
            ok.add_metric(
                [device, sensor], 1.0 if reading is not None and not data.get("error") else 0.0
            )
        yield from (value, age, ok)

    def _services(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "maelstrom_service_up", "1 when the service says online.", labels=["service"]
        )
        for service, online in sorted(self.live.services.items()):
            up.add_metric([service], 1.0 if online else 0.0)
        yield up

    def _parts(self) -> Iterator[Metric]:
        app = self.app
        mqtt = app[MQTT]
        yield CounterMetricFamily(
            "maelstrom_api_mqtt_reconnects",
            "API reconnections to the broker.",
            mqtt.stats.reconnects,
        )
        messages = CounterMetricFamily(
            "maelstrom_api_mqtt_messages", "MQTT messages of the API.", labels=["direction"]
        )
        messages.add_metric(["in"], mqtt.stats.messages_in)
        messages.add_metric(["out"], mqtt.stats.messages_out)
        yield messages
        yield GaugeMetricFamily(
            "maelstrom_api_mqtt_connected",
            "1 while the API holds the broker.",
            1.0 if mqtt.connected.is_set() else 0.0,
        )
        hub = app.get(HUB)
        if hub is not None:
            snap = hub.snapshot()
            yield GaugeMetricFamily(
                "maelstrom_bridge_browsers", "Browsers on /ws.", snap["browsers"]
            )
            yield CounterMetricFamily(
                "maelstrom_bridge_dropped_messages",
                "Messages coalesced away for slow browsers.",
                snap["dropped"],
            )
            yield CounterMetricFamily(
                "maelstrom_bridge_closed_slow",
                "Browsers closed for being too slow.",
                snap["closed_slow"],
            )
        notifier = app.get(NOTIFIER)
        if notifier is not None:
            yield CounterMetricFamily(
                "maelstrom_notification_deliveries", "Notifications delivered.", notifier.delivered
            )
            yield CounterMetricFamily(
                "maelstrom_notification_failures", "Failed delivery attempts.", notifier.failed
            )
            pending = NotificationRow.select().where(NotificationRow.state == "pending").count()
            yield GaugeMetricFamily(
                "maelstrom_notification_pending", "Notifications waiting in the outbox.", pending
            )
        streamer = app.get(STREAMER)
        if streamer is not None:
            yield CounterMetricFamily(
                "maelstrom_stream_posts", "Stream posts accepted by the service.", streamer.posts
            )
            yield CounterMetricFamily(
                "maelstrom_stream_failures", "Stream posts that failed.", streamer.failures
            )
            buffered = StreamPostRow.select().where(StreamPostRow.state == "pending").count()
            yield GaugeMetricFamily(
                "maelstrom_stream_buffered", "Readings waiting to be posted.", buffered
            )
        book = app.get(ALARMS)
        if book is not None:
            active = GaugeMetricFamily(
                "maelstrom_alarms", "Alarms on the alarms channel.", labels=["severity", "state"]
            )
            counts: dict[tuple[str, str], int] = {}
            for alarm in book.visible():
                key = (alarm.severity.value, alarm.state.value)
                counts[key] = counts.get(key, 0) + 1
            for (severity, state), n in sorted(counts.items()):
                active.add_metric([severity, state], n)
            yield active


METRICS = web.AppKey("metrics", CollectorRegistry)


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[METRICS])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def setup_metrics(app: web.Application) -> None:
    """`GET /metrics` (open, like /api/health: Prometheus scrapes without a token)."""

    async def metrics_ctx(app: web.Application) -> AsyncIterator[None]:
        registry = CollectorRegistry(auto_describe=False)
        collector = BreweryCollector(app, app[LIVE], app_clock(app))
        registry.register(collector)  # type: ignore[arg-type]
        app[METRICS] = registry
        yield

    app.cleanup_ctx.append(metrics_ctx)
    app.router.add_get("/metrics", metrics)
