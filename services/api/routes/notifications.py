"""`/api/notifications`: targets (Apprise URLs), rules, the delivery log, and a test send.

GET    /api/notifications                  targets, rules and the latest deliveries
GET    /api/notifications/targets          every target (URLs masked)
PUT    /api/notifications/targets/{id}     create or replace (a masked or absent URL keeps the stored one)
DELETE /api/notifications/targets/{id}     409 while a rule uses it
GET    /api/notifications/rules            every rule
PUT    /api/notifications/rules/{id}       create or replace
DELETE /api/notifications/rules/{id}
GET    /api/notifications/deliveries       the delivery log, newest first
POST   /api/notifications/test             send a test to one target now; answers with the result
"""

from __future__ import annotations

from aiohttp import web

from services.api.errors import NotFound
from services.api.notifications import NOTIFIER
from services.api.notifications.schema import (
    Delivery,
    Overview,
    Rule,
    Target,
    TargetOut,
    TestRequest,
    TestResult,
)
from services.api.openapi import Param, describe
from services.api.routes.collection import body_with_id, list_response, model_response
from services.api.validation import path_id, query_int, read_model, read_object, validate

routes = web.RouteTableDef()

LIMIT_PARAM = Param("limit", {"type": "integer", "minimum": 0}, "At most this many (default 50).")
TARGET_PARAM = Param("target", {"type": "string"}, "Only deliveries to this target.")


def _served(request: web.Request) -> list[TargetOut]:
    store = request.app[NOTIFIER].store
    return [store.served(t) for t in store.targets()]


@routes.get("/api/notifications")
@describe(
    "Targets, rules and the latest deliveries", responses={200: Overview}, tag="notifications"
)
async def overview(request: web.Request) -> web.Response:
    store = request.app[NOTIFIER].store
    result = Overview(
        targets=_served(request), rules=store.rules(), deliveries=store.deliveries(20)
    )
    return model_response(result)


@routes.get("/api/notifications/targets")
@describe(
    "List notification targets (URLs masked)", responses={200: list[TargetOut]}, tag="notifications"
)
async def list_targets(request: web.Request) -> web.Response:
    return list_response(_served(request))


@routes.get("/api/notifications/targets/{id}")
@describe(
    "Read a notification target (URL masked)", responses={200: TargetOut}, tag="notifications"
)
async def get_target(request: web.Request) -> web.Response:
    store = request.app[NOTIFIER].store
    return model_response(store.served(store.target(path_id(request))))


@routes.put("/api/notifications/targets/{id}")
@describe(
    "Create or replace a notification target",
    description="`url` is an Apprise URL. Leave it out, or send back the masked form a GET "
    "gave, to keep the stored one (so a name can change without knowing the secret).",
    body=Target,
    responses={200: TargetOut, 201: TargetOut},
    tag="notifications",
)
async def put_target(request: web.Request) -> web.Response:
    target_id = path_id(request)
    data = body_with_id(await read_object(request, "target"), target_id, "target")
    data.pop("status", None)  # read-only; a client may send back what it read
    store = request.app[NOTIFIER].store
    saved, created = store.put_target(validate(Target, data, "target"))
    return model_response(store.served(saved), 201 if created else 200)


@routes.delete("/api/notifications/targets/{id}")
@describe("Delete a notification target", responses={204: None}, errors=(409,), tag="notifications")
async def delete_target(request: web.Request) -> web.Response:
    request.app[NOTIFIER].store.delete_target(path_id(request))
    return web.Response(status=204)


@routes.get("/api/notifications/rules")
@describe("List notification rules", responses={200: list[Rule]}, tag="notifications")
async def list_rules(request: web.Request) -> web.Response:
    return list_response(request.app[NOTIFIER].store.rules())


@routes.get("/api/notifications/rules/{id}")
@describe("Read a notification rule", responses={200: Rule}, tag="notifications")
async def get_rule(request: web.Request) -> web.Response:
    return model_response(request.app[NOTIFIER].store.rule(path_id(request)))


@routes.put("/api/notifications/rules/{id}")
@describe(
    "Create or replace a notification rule",
    body=Rule,
    responses={200: Rule, 201: Rule},
    tag="notifications",
)
async def put_rule(request: web.Request) -> web.Response:
    rule_id = path_id(request)
    data = body_with_id(await read_object(request, "rule"), rule_id, "rule")
    notifier = request.app[NOTIFIER]
    saved, created = notifier.store.put_rule(validate(Rule, data, "rule"))
    notifier.wake()  # repeat and escalation times may have moved
    return model_response(saved, 201 if created else 200)


@routes.delete("/api/notifications/rules/{id}")
@describe("Delete a notification rule", responses={204: None}, tag="notifications")
async def delete_rule(request: web.Request) -> web.Response:
    request.app[NOTIFIER].store.delete_rule(path_id(request))
    return web.Response(status=204)


@routes.get("/api/notifications/deliveries")
@describe(
    "The delivery log, newest first",
    query=(LIMIT_PARAM, TARGET_PARAM),
    responses={200: list[Delivery]},
    tag="notifications",
)
async def deliveries(request: web.Request) -> web.Response:
    limit = query_int(request, "limit")
    target = request.query.get("target") or None
    store = request.app[NOTIFIER].store
    return list_response(store.deliveries(min(limit if limit is not None else 50, 1000), target))


@routes.post("/api/notifications/test")
@describe(
    "Send a test notification to one target now",
    description="Past the outbox and the rate limit; answers when Apprise has an answer "
    "(`ok` false with the error when delivery failed). Recorded in the delivery log.",
    body=TestRequest,
    responses={200: TestResult},
    errors=(404,),
    tag="notifications",
)
async def test_target(request: web.Request) -> web.Response:
    body = await read_model(request, TestRequest, "test request")
    notifier = request.app[NOTIFIER]
    target = notifier.store.find_target(body.target)
    if target is None:
        raise NotFound(f"no notification target {body.target!r}", {"field": "target"})
    return model_response(await notifier.test(target, body.message))
