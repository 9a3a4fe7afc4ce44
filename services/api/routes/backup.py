"""`GET /api/backup` and `POST /api/restore`: the whole configuration as one JSON document.

Restore is all or nothing: the document is validated completely (every object,
unique ids, loops that refer to devices and profiles in the document) before one
transaction replaces the configuration; the controller then gets the new config,
and empty retained payloads for objects that are gone. Each loop's target (mode,
setpoint, profile run) is the controller's, so it is sent as a `target` command.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from services.api.commands import LOOP_COMMANDS, principal_name
from services.api.errors import ApiError, Invalid
from services.api.migrations import current_version
from services.api.openapi import describe
from services.api.store import KINDS, STORE, ConfigStore
from services.api.validation import read_object, validate
from services.common.schema.config import Device, Loop, Profile, Setting
from services.common.schema.target import TARGET_FIELDS, TargetFields

routes = web.RouteTableDef()


class Backup(BaseModel):
    """Everything a brewer configured: settings, devices, profiles and loops."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["maelstrom-backup"] = "maelstrom-backup"
    schema_version: int = Field(0, ge=0, description="The database schema it came from.")
    created_at: float = Field(0.0, description="Unix time.")
    settings: list[Setting] = []
    devices: list[Device] = []
    profiles: list[Profile] = []
    loops: list[Loop] = []


class Restored(BaseModel):
    restored: dict[str, int] = Field(description="How many objects of each kind.")
    targets: dict[str, str] = Field(
        default_factory=dict,
        description="Per loop: 'restored', or why its controller did not take the backup's "
        "target (mode, setpoint, manual output, profile run) — e.g. no controller answered.",
    )


def make_backup(store: ConfigStore) -> Backup:
    return Backup(
        schema_version=current_version(store.db),
        created_at=time.time(),
        settings=store.settings(),
        devices=store.list("devices"),
        profiles=store.list("profiles"),
        loops=store.list("loops"),
    )


def _check(backup: Backup) -> None:
    problems = []
    groups = {"settings": [s.key for s in backup.settings]} | {
        kind: [o.id for o in getattr(backup, kind)] for kind in KINDS
    }
    for kind, ids in groups.items():
        for object_id, n in Counter(ids).items():
            if n > 1:
                problems.append({"field": kind, "message": f"{object_id!r} appears {n} times"})
    devices = {d.id: d for d in backup.devices}
    profiles = {p.id for p in backup.profiles}
    for i, loop in enumerate(backup.loops):
        try:
            ConfigStore.check_loop(loop, devices.get, profiles.__contains__)
        except Invalid as exc:
            problems += [{**p, "field": f"loops.{i}.{p['field']}"} for p in exc.detail]
    if problems:
        raise Invalid("invalid backup", problems)


@routes.get("/api/backup")
@describe("Download the whole configuration", responses={200: Backup}, tag="backup")
async def backup(request: web.Request) -> web.Response:
    doc = make_backup(request.app[STORE])
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(doc.created_at))
    return web.Response(
        text=doc.model_dump_json(indent=2),
        content_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="maelstrom-{stamp}.json"'},
    )


@routes.post("/api/restore")
@describe(
    "Replace the whole configuration with a backup",
    description="All or nothing. Versions continue from the current ones, so edits "
    "based on reads from before the restore get 409.",
    body=Backup,
    responses={200: Restored},
    tag="backup",
)
async def restore(request: web.Request) -> web.Response:
    doc = validate(Backup, await read_object(request, "backup"), "backup")
    _check(doc)
    restored = request.app[STORE].replace_all(doc.settings, doc.devices, doc.profiles, doc.loops)
    targets = await _restore_targets(request, doc.loops)
    return web.json_response(Restored(restored=restored, targets=targets).model_dump())


async def _restore_targets(request: web.Request, loops: list[Loop]) -> dict[str, str]:
    """The targets are the controller's: it gets each as a `target` command, applied once."""
    commands = request.app[LOOP_COMMANDS]
    by = principal_name(request)

    async def one(loop: Loop) -> str:
        payload = TargetFields(**{k: getattr(loop, k) for k in TARGET_FIELDS})
        try:
            await commands.execute(loop.id, "target", payload.model_dump_json().encode(), by)
        except ApiError as exc:
            message = exc.detail.get("message") if isinstance(exc.detail, dict) else None
            return f"{exc.error}: {message}" if message else exc.error
        return "restored"

    results = await asyncio.gather(*(one(loop) for loop in loops))
    return dict(zip((loop.id for loop in loops), results, strict=True))
