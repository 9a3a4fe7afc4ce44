"""Who changed what, on the timeline beside the alarms: "setpoint 18 → 12 by anna".

Two sources, one answer (`GET /api/history/changes`):

* **Commands** — however they came (REST, a browser, Home Assistant, mosquitto_pub),
  the controller applies them and publishes the loop's target, retained, naming who
  sent the last one (`changed_by`). Each new target is compared with the one before
  and written here, one row per field that changed (mode, setpoint, manual output,
  profile). Steps a running program takes by itself (`program`) are the program's
  events, not anyone's change, and are left out.
* **Configuration** — the REST audit (services/api/audit.py): every accepted change
  to devices, profiles, loops' wiring, settings, and restores.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator
from typing import Any

import peewee
from aiohttp import web
from pydantic import BaseModel, Field, ValidationError

from services.api.models import AuditRow
from services.common.mqtt import Message, MqttClient
from services.common.schema.config import ProfileRun
from services.common.schema.target import LoopTarget
from services.common.web import MQTT

from .models import TargetChange
from .openapi import describe
from .routes import parse_query, read
from .schemas import MAX_LIMIT, RangeQuery

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

NOT_ANYONES = frozenset({"program"})
"""`changed_by` of targets no one commanded: a program moving on by itself."""


# --- describing a change -----------------------------------------------------------------------


def _number(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def profile_change(old: ProfileRun | None, new: ProfileRun | None) -> str | None:
    if old is None and new is not None:
        return f"profile {new.profile} started"
    if old is not None and new is None:
        return f"profile {old.profile} stopped"
    if old is None or new is None:
        return None
    if old.profile != new.profile:
        return f"profile {old.profile} → {new.profile}"
    if old.started_at != new.started_at:
        return f"profile {new.profile} restarted"
    if old.paused_at is None and new.paused_at is not None:
        return f"profile {new.profile} paused"
    if old.paused_at is not None and new.paused_at is None:
        return f"profile {new.profile} resumed"
    if old.step != new.step and old.step is not None and new.step is not None:
        return f"profile {new.profile}: step {old.step + 1} → {new.step + 1}"
    if new.confirmed and not old.confirmed and new.step is not None:
        return f"profile {new.profile}: step {new.step + 1} confirmed"
    if new.extra_s != old.extra_s:
        return f"profile {new.profile}: hold extended to {_number(new.extra_s / 60)} min"
    return None


def target_changes(old: LoopTarget, new: LoopTarget) -> list[dict[str, Any]]:
    """One entry per field that changed: `field`, `from`, `to`, and `what` in words."""
    found = []
    if old.setpoint != new.setpoint:
        found.append(("setpoint", f"setpoint {_number(old.setpoint)} → {_number(new.setpoint)} °C"))
    if old.mode != new.mode:
        found.append(("mode", f"mode {old.mode.value} → {new.mode.value}"))
    if old.manual_output != new.manual_output:
        found.append(
            (
                "manual_output",
                f"manual output {_number(old.manual_output)} → {_number(new.manual_output)} %",
            )
        )
    what = profile_change(old.profile, new.profile)
    if what:
        found.append(("profile", what))
    before, after = old.model_dump(mode="json"), new.model_dump(mode="json")
    return [{"field": f, "from": before[f], "to": after[f], "what": w} for f, w in found]


# --- recording commands --------------------------------------------------------------------------


class ChangeRecorder:
    """Writes each loop's target changes, as the controller publishes them."""

    def __init__(self, mqtt: MqttClient) -> None:
        self.mqtt = mqtt
        self._last: dict[str, LoopTarget] = {}

    def on_target(self, message: Message) -> None:
        loop_id = message.topic.rsplit("/", 1)[-1]
        if not message.payload.strip():
            self._last.pop(loop_id, None)  # the loop was deleted: a new one starts afresh
            return
        try:
            target = LoopTarget.model_validate_json(message.payload)
        except ValidationError:
            return  # services/api/targets.py says why
        if target.loop != loop_id:
            return
        old = self._last.get(loop_id)
        if old is None:
            old = self._previous_from_database(loop_id, target)
        self._last[loop_id] = target
        if old is None:
            return  # the first this history sees of the loop: what it was before is unknown
        if not target.changed_by or target.changed_by in NOT_ANYONES or not target.ts:
            return
        if old.revision >= target.revision and old.ts >= target.ts:
            return  # the same target again (a reconnect, the API restarted)
        rows = [
            {
                "ts": target.ts,
                "loop": loop_id,
                "who": target.changed_by[:100],
                "field": c["field"],
                "before": json.dumps(c["from"]),
                "after": json.dumps(c["to"]),
                "what": c["what"][:200],
                "revision": target.revision,
                "target": target.model_dump_json(),
            }
            for c in target_changes(old, target)
        ]
        if not rows:
            return
        try:
            TargetChange.insert_many(rows).execute()
        except peewee.PeeweeException as exc:  # the change is done; losing its note is not fatal
            log.warning("history of %s's change by %s lost: %s", loop_id, target.changed_by, exc)

    @staticmethod
    def _previous_from_database(loop_id: str, target: LoopTarget) -> LoopTarget | None:
        """After a restart: the last target this history wrote for the loop."""
        try:
            row = (
                TargetChange.select(TargetChange.target)
                .where(TargetChange.loop == loop_id)
                .order_by(TargetChange.ts.desc(), TargetChange.id.desc())
                .first()
            )
            return LoopTarget.model_validate_json(row.target) if row else None
        except (peewee.PeeweeException, ValidationError):
            return None


def setup_changes(app: web.Application) -> None:
    """Record target changes and serve `GET /api/history/changes` (after MQTT and the database)."""
    app.add_routes(routes)

    async def changes_ctx(app: web.Application) -> AsyncIterator[None]:
        mqtt = app[MQTT]
        recorder = ChangeRecorder(mqtt)
        mqtt.subscribe(mqtt.topics.all_loop_targets, recorder.on_target)
        yield
        mqtt.unsubscribe(mqtt.topics.all_loop_targets, recorder.on_target)

    app.cleanup_ctx.append(changes_ctx)


# --- configuration, from the audit -----------------------------------------------------------

CONFIG_PATH = re.compile(
    r"^/api/(?P<kind>devices|profiles|loops|settings)(?:/(?P<id>[^/]+))?(?P<rest>/csv)?$"
)
NOUN = {"devices": "device", "profiles": "profile", "loops": "loop", "settings": "setting"}
VERB = {"POST": "added", "PUT": "changed", "PATCH": "changed", "DELETE": "deleted"}


def configuration_change(method: str, path: str) -> tuple[str | None, str] | None:
    """(loop or None, what in words) for an audited configuration change, else None."""
    if path == "/api/restore":
        return None, "backup restored"
    if path == "/api/profiles/import":
        return None, "recipe imported as profiles"
    found = CONFIG_PATH.match(path)
    if not found or method not in VERB:
        return None
    kind, object_id = found["kind"], found["id"]
    noun = NOUN[kind]
    what = f"{noun} {object_id} {VERB[method]}" if object_id else f"{noun} {VERB[method]}"
    if found["rest"]:
        what = f"profile {object_id} points replaced (CSV)"
    return (object_id if kind == "loops" else None), what


# --- reading -----------------------------------------------------------------------------------


class ChangesQuery(RangeQuery):
    loop: str | None = Field(None, description="This loop's changes and the general ones.")
    limit: int = Field(500, ge=1, le=MAX_LIMIT)


class ChangeOut(BaseModel):
    ts: float
    loop: str | None = Field(..., description="The loop it concerns; null: configuration.")
    who: str = Field(..., description="User name, `token:<name>`, or the MQTT client.")
    what: str = Field(..., description='In words: "setpoint 18 → 12 °C".')
    kind: str = Field(..., description="command (a loop's target) or configuration")
    field: str | None = Field(None, description="Commands: mode, setpoint, manual_output, profile.")
    from_: Any = Field(None, alias="from", description="Commands: the value before.")
    to: Any = Field(None, description="Commands: the value after.")


class ChangesResponse(BaseModel):
    changes: list[ChangeOut]


def read_changes(start: float, end: float, loop: str | None, limit: int) -> list[dict[str, Any]]:
    """Commands and configuration changes in [start, end], oldest first."""
    commands = TargetChange.select().where(TargetChange.ts.between(start, end))
    if loop:
        commands = commands.where(TargetChange.loop == loop)
    found: list[dict[str, Any]] = [
        {
            "ts": r.ts,
            "loop": r.loop,
            "who": r.who,
            "what": r.what,
            "kind": "command",
            "field": r.field,
            "from": json.loads(r.before),
            "to": json.loads(r.after),
        }
        for r in commands.order_by(TargetChange.ts.desc()).limit(limit)
    ]
    audited = (
        AuditRow.select()
        .where(AuditRow.ts.between(start, end) & (AuditRow.status < 400))
        .order_by(AuditRow.ts.desc())
        .limit(limit * 4)  # most audited requests are commands, shown above from the target
    )
    for r in audited:
        described = configuration_change(r.method, r.path)
        if described is None or (loop and described[0] not in (None, loop)):
            continue
        found.append(
            {"ts": r.ts, "loop": described[0], "who": r.who, "what": described[1]}
            | {"kind": "configuration", "field": None, "from": None, "to": None}
        )
    found.sort(key=lambda c: c["ts"])
    return found[-limit:]


@routes.get("/api/history/changes")
@describe(
    "Who changed what: commands and configuration changes, oldest first",
    description="Shown in history beside the alarms. Commands from every path (REST, "
    "browsers, Home Assistant, MQTT) as the controller applied them; configuration "
    "changes from the REST audit. See docs/history.md.",
    query=ChangesQuery,
    responses={200: ChangesResponse},
)
async def get_changes(request: web.Request) -> web.Response:
    q = parse_query(request, ChangesQuery)
    rows = await read(request, read_changes, q.start, q.end, q.loop, q.limit)
    return web.json_response({"changes": rows})
