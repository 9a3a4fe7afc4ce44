"""`POST /api/publish/{channel}[/{subtopic…}]`: publish any body on a channel.

For tools and the Debugger tab: raise a test alarm, send a command, inject a log
line. The body is sent as it is (JSON or not); an empty body with `?retain=1`
clears a retained topic (not an alarm's record: that is the controller's). Admins only. Configuration is not publishable here: it is the API's
own output, from the database (use the REST resources).
"""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel

from services.api.errors import BadRequest, Forbidden
from services.api.openapi import Param, describe
from services.api.validation import FLAG_SCHEMA, query_flag, query_int
from services.common.topics import TopicError
from services.common.web import MQTT

routes = web.RouteTableDef()

PUBLISHABLE = ("data", "logs", "alarms", "cmd")


class Published(BaseModel):
    topic: str
    retain: bool
    qos: int
    bytes: int


CHANNEL_SCHEMA = {"type": "string", "enum": list(PUBLISHABLE)}
SUBTOPIC_SCHEMA = {
    "type": "string",
    "pattern": r"^[^+#\u0000-\u001f\u007f-\u009f]+$",
    "description": "The rest of the topic; may contain '/'.",
}
QUERY = (
    Param("retain", FLAG_SCHEMA, "Publish retained."),
    Param("qos", {"type": "integer", "minimum": 0, "maximum": 2}, "QoS (default 1)."),
)
BODY = {"application/json": {}, "text/plain": {"type": "string"}}


async def _publish(request: web.Request, channel: str, subtopic: str) -> web.Response:
    if channel not in PUBLISHABLE:
        raise BadRequest(
            "bad channel",
            {
                "field": "channel",
                "message": f"one of {', '.join(PUBLISHABLE)}; not {channel[:40]!r}",
            },
        )
    retain = query_flag(request, "retain")
    qos = query_int(request, "qos")
    qos = 1 if qos is None else qos
    if qos > 2:
        raise BadRequest("bad qos", {"field": "qos", "message": "0, 1 or 2"})
    mqtt = request.app[MQTT]
    try:
        # The broker disconnects a client that sends a topic it refuses, and this
        # client is shared by the whole API: check here, as the broker would.
        topic = mqtt.topics.channel(channel, subtopic)
    except TopicError as exc:
        raise BadRequest("bad subtopic", {"field": "subtopic", "message": str(exc)[:200]}) from exc
    payload = await request.read()
    if channel == "alarms" and retain and not payload:
        # The alarm book is the controller's record; an empty retained message would erase
        # an alarm nobody acknowledged. Acknowledge it instead (POST /api/alarms/{id}/ack).
        raise Forbidden(
            "alarm records cannot be cleared by publishing",
            {"field": "body", "message": "acknowledge the alarm instead"},
        )
    mqtt.publish(topic, payload, qos=qos, retain=retain)
    result = Published(topic=topic, retain=retain, qos=qos, bytes=len(payload))
    return web.json_response(result.model_dump(), status=202)


@routes.post("/api/publish/{channel}")
@describe(
    "Publish a message on a channel",
    body_content=BODY,
    body_required=False,
    query=QUERY,
    path={"channel": CHANNEL_SCHEMA},
    responses={202: Published},
    tag="publish",
)
async def publish_channel(request: web.Request) -> web.Response:
    return await _publish(request, request.match_info["channel"], "")


@routes.post(r"/api/publish/{channel}/{subtopic:[\s\S]+}")
@describe(
    "Publish a message on a topic under a channel",
    body_content=BODY,
    body_required=False,
    query=QUERY,
    path={"channel": CHANNEL_SCHEMA, "subtopic": SUBTOPIC_SCHEMA},
    responses={202: Published},
    tag="publish",
)
async def publish_subtopic(request: web.Request) -> web.Response:
    return await _publish(request, request.match_info["channel"], request.match_info["subtopic"])
