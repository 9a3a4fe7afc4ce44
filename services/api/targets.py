"""The loops' targets, mirrored from their controller into the database.

The controller that runs a loop owns its target (mode, setpoint, manual output,
profile run) and publishes it retained on `<prefix>/target/<loop>`. The API keeps
what it publishes — including what changed while the API was down, since the
broker holds the latest — so `GET /api/loops/{id}` and backups show the target
in force. Nothing here publishes: a target echoed back as configuration would be
a replayed command.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web
from pydantic import ValidationError

from services.api.store import STORE, ConfigStore
from services.common.mqtt import Message
from services.common.schema.target import LoopTarget
from services.common.web import MQTT

log = logging.getLogger(__name__)


class TargetMirror:
    def __init__(self, store: ConfigStore) -> None:
        self.store = store

    def on_target(self, message: Message) -> None:
        if not message.payload.strip():
            return  # the loop was deleted: its configuration went first
        loop_id = message.topic.rsplit("/", 1)[-1]
        try:
            target = LoopTarget.model_validate_json(message.payload)
        except ValidationError as exc:
            log.warning("dropped target on %s: %s", message.topic, exc.errors()[0]["msg"])
            return
        if target.loop != loop_id:
            log.warning("dropped target on %s: it names loop %r", message.topic, target.loop)
            return
        self.store.set_target(loop_id, target)


def setup_targets(app: web.Application) -> None:
    async def targets_ctx(app: web.Application) -> AsyncIterator[None]:
        mqtt = app[MQTT]
        mirror = TargetMirror(app[STORE])
        mqtt.subscribe(mqtt.topics.all_loop_targets, mirror.on_target)
        yield
        mqtt.unsubscribe(mqtt.topics.all_loop_targets, mirror.on_target)

    app.cleanup_ctx.append(targets_ctx)
