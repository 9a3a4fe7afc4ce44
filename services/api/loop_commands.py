"""Loop commands — setpoint, mode, output, profile start/pause/resume/stop/jump —
validated against the loop, persisted and re-published, whichever way they came.

`maelstrom/cmd/loops/<loop>/<command>` over MQTT (Home Assistant, mosquitto_pub,
the browser) and `POST /api/loops/{id}/{command}` over REST both end in
`execute()`. The controller also applies commands in memory at once; the config
this publishes afterwards is what makes them durable.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from services.api.errors import ApiError, Invalid
from services.api.store import STORE, ConfigStore
from services.common.clock import Clock, RealClock
from services.common.loop_commands import apply_loop_command, profile_temperature
from services.common.mqtt import Message
from services.common.schema.commands import CommandError, LoopCommand, parse_loop_command
from services.common.schema.config import Loop, Profile
from services.common.web import MQTT

log = logging.getLogger(__name__)

__all__ = ["LOOP_COMMANDS", "LoopCommands", "apply_command", "profile_temperature"]


apply_command = apply_loop_command  # one rule for the API and the controller


class LoopCommands:
    """Runs loop commands from MQTT and REST through one path."""

    def __init__(self, store: ConfigStore, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def execute(self, loop_id: str, command: str, raw: bytes) -> Loop:
        """Parse, apply, persist (version + 1) and publish; raises ApiError on bad input."""
        try:
            cmd = parse_loop_command(command, raw)
        except CommandError as exc:
            raise Invalid("invalid command", {"field": command, "message": str(exc)}) from exc
        return self.apply(loop_id, command, cmd)

    def apply(self, loop_id: str, command: str, cmd: LoopCommand) -> Loop:
        def change(loop: Loop) -> Loop:
            try:
                return apply_command(loop, cmd, self.clock.now(), self._find_profile)
            except CommandError as exc:
                raise Invalid("invalid command", {"field": command, "message": str(exc)}) from exc

        return self.store.update("loops", loop_id, change, echo_unchanged=True)

    def _find_profile(self, profile_id: str) -> Profile | None:
        found = self.store.find("profiles", profile_id)
        return found if isinstance(found, Profile) else None

    def on_message(self, message: Message) -> None:
        parts = message.topic.split("/")[-4:]  # …/cmd/loops/<loop>/<command>
        loop_id, command = parts[2], parts[3]
        try:
            loop = self.execute(loop_id, command, message.payload)
        except ApiError as exc:
            log.warning(
                "dropped command on %s (%r): %s %s",
                message.topic,
                message.payload[:100],
                exc.error,
                exc.detail,
            )
            return
        log.info("loop %s: %s command applied (version %d)", loop_id, command, loop.version)


LOOP_COMMANDS = web.AppKey("loop_commands", LoopCommands)


def setup_loop_commands(app: web.Application, clock: Clock | None = None) -> None:
    async def commands_ctx(app: web.Application) -> AsyncIterator[None]:
        commands = LoopCommands(app[STORE], clock or RealClock())
        app[LOOP_COMMANDS] = commands
        mqtt = app[MQTT]
        mqtt.subscribe(mqtt.topics.all_loop_commands, commands.on_message)
        yield
        mqtt.unsubscribe(mqtt.topics.all_loop_commands, commands.on_message)

    app.cleanup_ctx.append(commands_ctx)
