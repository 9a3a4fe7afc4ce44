"""`/api/alarms`: the alarms on the alarms channel, recent ones, and acknowledgement.

Acknowledging publishes `{"by": ...}` on `maelstrom/alarms/<id>/ack` — the same
message Home Assistant or mosquitto_pub would send — and the controller, which
owns the alarm's lifecycle, updates the retained record.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, Field, ValidationError

from services.api.alarm_book import ALARMS
from services.api.errors import BadRequest, Invalid, NotFound, UnsupportedMediaType, field_errors
from services.api.history import query as history_query
from services.api.history.routes import read
from services.api.openapi import describe
from services.api.validation import is_json, parse_json
from services.common.schema.alarms import Alarm, AlarmAck
from services.common.topics import TopicError, check_segment

routes = web.RouteTableDef()


class AlarmList(BaseModel):
    alarms: list[Alarm] = Field(description="On the alarms channel now: active first, by severity.")
    recent: list[Alarm] = Field(
        description="Every occurrence no longer on the channel, newest raised first, as it "
        "ended: final state, who acknowledged and when, when it cleared (from the history)."
    )


class Acknowledged(BaseModel):
    topics: list[str] = Field(description="Where each acknowledgement was published.")
    by: str


ALARM_ID = {"type": "string", "pattern": r"^[^/+#\x00]+$", "maxLength": 200}
ACK_BODY = {
    "type": "object",
    "properties": {"by": {"type": "string", "maxLength": 100}},
    "additionalProperties": False,
}


async def _read_ack(request: web.Request) -> str:
    raw = await request.read()
    if not raw.strip():
        return "api"
    if not is_json(request.content_type):
        raise UnsupportedMediaType(
            detail={"field": "Content-Type", "message": "send application/json"}
        )
    data: Any = parse_json(raw)
    if not isinstance(data, dict):
        raise Invalid(
            "invalid acknowledgement", [{"field": "body", "message": "expected a JSON object"}]
        )
    unknown = sorted(set(data) - set(AlarmAck.model_fields))
    if unknown:
        raise Invalid(
            "invalid acknowledgement",
            [{"field": k, "message": "Extra inputs are not permitted"} for k in unknown],
        )
    try:
        return AlarmAck.model_validate({"by": "api", **data}).by
    except ValidationError as exc:
        raise Invalid("invalid acknowledgement", field_errors(exc)) from exc


@routes.get("/api/alarms")
@describe("List the alarms: visible now, and recent", responses={200: AlarmList})
async def list_alarms(request: web.Request) -> web.Response:
    book = request.app[ALARMS]
    visible = book.visible()
    showing = {(a.id, a.raised_at) for a in visible}
    occurrences = await read(request, history_query.alarm_occurrences, 50)
    recent = [
        Alarm.model_validate(o) for o in occurrences if (o["id"], o["raised_at"]) not in showing
    ]
    result = AlarmList(alarms=visible, recent=recent)
    return web.Response(text=result.model_dump_json(), content_type="application/json")


@routes.post("/api/alarms/ack")
@describe(
    "Acknowledge every unacknowledged alarm",
    body=ACK_BODY,
    body_required=False,
    responses={202: Acknowledged},
)
async def ack_all(request: web.Request) -> web.Response:
    by = await _read_ack(request)
    book = request.app[ALARMS]
    topics = [book.acknowledge(a.id, by) for a in book.visible() if not a.acknowledged]
    return web.json_response(Acknowledged(topics=topics, by=by).model_dump(), status=202)


@routes.post("/api/alarms/{id}/ack")
@describe(
    "Acknowledge one alarm",
    body=ACK_BODY,
    body_required=False,
    path={"id": ALARM_ID},
    responses={202: Acknowledged},
)
async def ack_one(request: web.Request) -> web.Response:
    alarm_id = request.match_info["id"]
    try:
        check_segment(alarm_id, "alarm id")
    except TopicError as exc:
        raise BadRequest("bad id", {"field": "id", "message": str(exc)}) from exc
    book = request.app[ALARMS]
    alarm = book.get(alarm_id)
    if alarm is None:
        raise NotFound(f"no alarm {alarm_id!r} on the alarms channel", {"field": "id"})
    by = await _read_ack(request)
    topics = [book.acknowledge(alarm_id, by)]
    return web.json_response(Acknowledged(topics=topics, by=by).model_dump(), status=202)
