"""Notifications: alarms and loop events to ntfy, Telegram, e-mail … through Apprise.

`setup_notifications(app)` wires the notifier to the alarm book (every retained
alarm record), to the loops' live state (current values and profile events) and
to the configuration store (names, and which loops a device serves).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from services.api.alarm_book import ALARMS
from services.api.notifications.messages import Where
from services.api.notifications.notifier import Context, Notifier
from services.api.notifications.store import NotificationStore
from services.api.notifications.watch import ServiceWatch
from services.api.store import STORE, ConfigStore
from services.common.mqtt import Message, PayloadError
from services.common.schema.config import Device, Loop
from services.common.web import CONFIG, MQTT, app_clock

NOTIFIER = web.AppKey("notifier", Notifier)

__all__ = ["NOTIFIER", "Notifier", "setup_notifications"]


def _context(app: web.Application, store: ConfigStore) -> Context:
    def where(source: str) -> Where:
        loop = store.find("loops", source) if source else None
        if isinstance(loop, Loop):
            return Where(f"loop {loop.name or loop.id} ({loop.id})", loop.id)
        device = store.find("devices", source) if source else None
        if isinstance(device, Device):
            loops = sorted(loops_of(source))
            text = f"device {device.name or device.id} ({device.id})"
            if loops:
                text += f", used by loop {', '.join(loops)}"
            return Where(text, loops[0] if len(loops) == 1 else None)
        return Where(source)

    def loops_of(source: str) -> set[str]:
        if not source:
            return set()
        out = set()
        for loop in store.list("loops"):
            assert isinstance(loop, Loop)
            used = {
                loop.sensor.device,
                loop.heater.device if loop.heater else None,
                loop.cooler.device if loop.cooler else None,
            }
            if source == loop.id or source in used:
                out.add(loop.id)
        return out

    def public_url() -> str | None:
        setting = next((s for s in store.settings() if s.key == "public_url"), None)
        if setting is not None and isinstance(setting.value, str) and setting.value.strip():
            return setting.value.strip().rstrip("/")
        return app[CONFIG].public_url

    return Context(where=where, loops_of=loops_of, public_url=public_url)


def setup_notifications(app: web.Application) -> None:
    async def notifications_ctx(app: web.Application) -> AsyncIterator[None]:
        mqtt = app[MQTT]
        notifier = Notifier(NotificationStore(), app_clock(app), _context(app, app[STORE]))
        app[NOTIFIER] = notifier

        def on_loop_state(message: Message) -> None:
            loop_id = message.topic.rsplit("/", 1)[-1]
            if not message.payload.strip():
                notifier.loop_states.pop(loop_id, None)
                return
            data = message.json()
            if not isinstance(data, dict):
                raise PayloadError(f"loop state on {message.topic} is not a JSON object")
            notifier.on_loop_state(loop_id, data)

        # Subscribed before the alarms' retained records arrive (the book subscribed
        # first), so a message can say the loop's value from the start.
        mqtt.subscribe(mqtt.topics.all_loop_states, on_loop_state)
        book = app[ALARMS]
        book.add_listener(notifier.on_alarm)
        for alarm in book.visible():  # retained records the book heard before we listened
            notifier.on_alarm(alarm.id, alarm)
        notifier.start()
        # A silent controller cannot raise its own alarm: the API does.
        watch = ServiceWatch(mqtt, app_clock(app), book.get)
        watch.start()
        yield
        watch.stop()
        await notifier.stop()
        mqtt.unsubscribe(mqtt.topics.all_loop_states, on_loop_state)

    app.cleanup_ctx.append(notifications_ctx)
