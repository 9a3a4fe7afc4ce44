"""`/api/loops`: control loops, and their commands (setpoint, mode, output, profile).

`POST /api/loops/{id}/<command>` takes exactly what `maelstrom/cmd/loops/<id>/<command>`
takes over MQTT (plain text such as `20.5` or JSON such as `{"value": 20.5}`) and goes
through the same code.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.api.commands import LOOP_COMMANDS, principal_name
from services.api.openapi import describe
from services.api.routes.collection import collection_routes, model_response
from services.api.validation import path_id
from services.common.schema.commands import AutotuneCommand, ProfileCommand
from services.common.schema.config import Loop, LoopMode
from services.common.schema.target import TARGET_FIELDS, TargetFields
from services.common.topics import LOOP_COMMANDS as COMMAND_NAMES

routes = web.RouteTableDef()
collection_routes("loops", Loop, routes, commands=(*TARGET_FIELDS, "target_revision"))

_VALUE_NUMBER = {
    "anyOf": [
        {"type": "number"},
        {
            "type": "object",
            "properties": {"value": {"type": "number"}},
            "required": ["value"],
            "additionalProperties": False,
        },
    ]
}
COMMAND_BODIES: dict[str, Any] = {
    "setpoint": _VALUE_NUMBER,
    "output": _VALUE_NUMBER,
    "mode": {"type": "string", "enum": [m.value for m in LoopMode]},
    "profile": {
        "anyOf": [
            {"type": "string", "enum": ["start", "pause", "resume", "stop", "skip", "confirm"]},
            ProfileCommand,
        ]
    },
    "target": TargetFields,
    "ack": {"type": "string", "description": "Ignored (e.g. PRESS)."},
    "autotune": {
        "anyOf": [{"type": "string", "enum": ["start", "abort", "discard"]}, AutotuneCommand]
    },
}
COMMAND_TEXT = {
    "setpoint": "Set the setpoint (°C), within the loop's setpoint_min..setpoint_max.",
    "mode": "Set the mode: off, manual, constant or profile (Home Assistant's heat/cool/auto too).",
    "output": "Set the manual output, % (+ heats, − cools).",
    "profile": "Start, pause, resume, stop or jump within a temperature profile; step "
    "profiles: skip to a step, extend the hold, confirm (docs/programs.md).",
    "target": "Set the whole target at once: mode, setpoint, manual_output, profile (a restore).",
    "ack": "Acknowledge every alarm of the loop (active or cleared); the target is unchanged.",
    "autotune": "Start, abort or discard a relay-feedback autotune run; its progress, the "
    "identified plant and the proposed PID gains are in the loop's live state "
    "(docs/control.md). The target is unchanged.",
}


def _command_route(command: str) -> None:
    @routes.post(f"/api/loops/{{id}}/{command}")
    @describe(
        COMMAND_TEXT[command],
        description="The same payloads as MQTT `maelstrom/cmd/loops/<id>/"
        f"{command}`: plain text or JSON. Sent to the loop's controller, which applies "
        "it; returns the loop with the controller's new target (`target_revision`). "
        "409: the controller refused (its reason in `detail.message`); 504: no "
        "controller answered; 503: the broker is unreachable.",
        body_content={
            "application/json": COMMAND_BODIES[command],
            "text/plain": {"type": "string"},
        },
        responses={200: Loop},
        errors=(409, 422, 503, 504),
        tag="loops",
    )
    async def loop_command(request: web.Request) -> web.Response:
        loop_id = path_id(request)
        raw = await request.read()
        loop = await request.app[LOOP_COMMANDS].execute(
            loop_id, command, raw, principal_name(request)
        )
        return model_response(loop)


for _command in COMMAND_NAMES:
    _command_route(_command)
