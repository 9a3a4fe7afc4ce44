"""REST loop commands — setpoint, mode, output, profile, target — sent to the loop's
controller, which alone applies them.

`POST /api/loops/{id}/<command>` takes exactly what `maelstrom/cmd/loops/<id>/<command>`
takes and publishes it there, as Home Assistant or mosquitto_pub would, asking for
an answer (MQTT 5 response topic and correlation data). The answer is the
controller's: 200 with the loop and its new target, 409 with its reason for
refusing, 504 when no controller answers in time. The API never applies a command
itself; it mirrors the targets the controller publishes (services/api/targets.py).

A command is never sent while the broker is away (503): paho would queue it and
deliver it later, long after the brewer was told it failed. Each carries a message
expiry, so the broker drops it rather than hand it to a controller that connects
later.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator

from aiohttp import web
from pydantic import ValidationError

from services.api.errors import ApiError, Conflict, Invalid
from services.api.store import STORE, ConfigStore
from services.common.mqtt import Message, MqttClient
from services.common.schema.commands import CommandError, parse_loop_command
from services.common.schema.config import Loop
from services.common.schema.target import CommandReply
from services.common.web import MQTT

log = logging.getLogger(__name__)

COMMAND_TIMEOUT_S = 5.0
"""How long a REST command waits for the controller (a live one answers in milliseconds)."""


class Unavailable(ApiError):
    status = 503
    error = "broker unavailable"


class NoController(ApiError):
    status = 504
    error = "no controller answered"


class LoopCommands:
    """Sends REST commands to the controller and waits for its answer."""

    def __init__(
        self, mqtt: MqttClient, store: ConfigStore, timeout_s: float = COMMAND_TIMEOUT_S
    ) -> None:
        self.mqtt = mqtt
        self.store = store
        self.timeout_s = timeout_s
        self.reply_topic = mqtt.topics.replies(mqtt.client_id)
        self._waiting: dict[bytes, asyncio.Future[CommandReply]] = {}

    def start(self) -> None:
        self.mqtt.subscribe(self.reply_topic, self.on_reply)

    def stop(self) -> None:
        self.mqtt.unsubscribe(self.reply_topic, self.on_reply)
        for future in self._waiting.values():
            future.cancel()

    async def execute(self, loop_id: str, command: str, raw: bytes, by: str = "api") -> Loop:
        """Send the command and return the loop as its controller left it."""
        try:
            parse_loop_command(command, raw)  # a typo is answered here, at once
        except CommandError as exc:
            raise Invalid("invalid command", {"field": command, "message": str(exc)}) from exc
        self.store.get("loops", loop_id)  # 404 for a loop that does not exist
        if not self.mqtt.connected.is_set():
            raise Unavailable(detail={"loop": loop_id, "message": "the command was not sent"})
        correlation = uuid.uuid4().bytes
        future: asyncio.Future[CommandReply] = asyncio.get_running_loop().create_future()
        self._waiting[correlation] = future
        try:
            self.mqtt.publish(
                self.mqtt.topics.loop_command(loop_id, command),
                raw,
                qos=1,
                response_topic=self.reply_topic,
                correlation=correlation,
                user={"by": by},
                expiry_s=max(1, round(self.timeout_s)),
            )
            reply = await asyncio.wait_for(future, self.timeout_s)
        except TimeoutError:
            raise NoController(
                f"no controller answered for loop {loop_id!r}",
                {"loop": loop_id, "command": command, "timeout_s": self.timeout_s},
            ) from None
        finally:
            self._waiting.pop(correlation, None)
        if not reply.runs:
            raise NoController(
                f"no controller runs loop {loop_id!r}",
                {"loop": loop_id, "command": command, "message": reply.error},
            )
        if not reply.ok:
            raise Conflict(
                f"loop {loop_id!r} refused the {command} command",
                {"loop": loop_id, "command": command, "message": reply.error},
            )
        if reply.target is not None:
            self.store.set_target(loop_id, reply.target, newer_only=True)
        return self.store.get("loops", loop_id)  # type: ignore[return-value]

    def on_reply(self, message: Message) -> None:
        future = self._waiting.get(message.correlation or b"")
        if future is None or future.done():
            return  # an answer for a request that gave up, or not ours
        try:
            future.set_result(CommandReply.model_validate_json(message.payload))
        except ValidationError as exc:
            log.warning("dropped a malformed command reply: %s", exc.errors()[0]["msg"])


LOOP_COMMANDS = web.AppKey("loop_commands", LoopCommands)


def principal_name(request: web.Request) -> str:
    """Who sent a REST request, for the controller's record (`changed_by`)."""
    principal = request.get("principal")
    name = getattr(principal, "name", None) or (principal if isinstance(principal, str) else None)
    return str(name) if name else "api"


def setup_loop_commands(app: web.Application, timeout_s: float = COMMAND_TIMEOUT_S) -> None:
    async def commands_ctx(app: web.Application) -> AsyncIterator[None]:
        commands = LoopCommands(app[MQTT], app[STORE], timeout_s)
        app[LOOP_COMMANDS] = commands
        commands.start()
        yield
        commands.stop()

    app.cleanup_ctx.append(commands_ctx)
