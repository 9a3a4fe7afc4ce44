"""`/api/profiles`: temperature profiles, and BrewPi's profile CSV in and out."""

from __future__ import annotations

from datetime import datetime

from aiohttp import web

from services.api.brewpi import format_profile_csv, parse_profile_csv
from services.api.errors import BadRequest, Invalid
from services.api.openapi import Param, describe
from services.api.routes.collection import VERSION_PARAM, collection_routes, model_response
from services.api.store import STORE
from services.api.validation import FLAG_SCHEMA, path_id, query_flag, query_int
from services.common.schema.config import Interpolation, Profile

routes = web.RouteTableDef()
collection_routes("profiles", Profile, routes)

CSV_SCHEMA = {"type": "string", "description": "date,temperature,days — one row per point."}


@routes.get("/api/profiles/{id}/csv")
@describe(
    "Export a profile as BrewPi CSV",
    query=(
        Param(
            "start",
            {"type": "string", "format": "date-time"},
            "When a relative profile starts, for the date column (default: now).",
        ),
    ),
    responses={200: {"content": {"text/csv": CSV_SCHEMA}}},
    tag="profiles",
)
async def export_csv(request: web.Request) -> web.Response:
    profile = request.app[STORE].get("profiles", path_id(request))
    start = None
    if "start" in request.query:
        try:
            start = datetime.fromisoformat(request.query["start"])
        except ValueError as exc:
            raise BadRequest(
                "bad start",
                {"field": "start", "message": "expected a date-time like 2026-03-01T12:00:00"},
            ) from exc
    assert isinstance(profile, Profile)
    try:
        text = format_profile_csv(profile, start)
    except (OverflowError, ValueError) as exc:
        # The dates of a relative profile run past the end of the calendar (year 9999).
        raise BadRequest(
            "bad start", {"field": "start", "message": "too late: the profile would end after 9999"}
        ) from exc
    return web.Response(
        text=text,
        content_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{profile.id}.csv"'},
    )


@routes.put("/api/profiles/{id}/csv")
@describe(
    "Import a BrewPi CSV as a profile (create or replace)",
    description="Dates become offsets from the first row unless `absolute=1`. An empty "
    "temperature cell means control off. Replacing needs `?version=` of the profile read.",
    body_content={"text/csv": CSV_SCHEMA},
    query=(
        VERSION_PARAM,
        Param("name", {"type": "string", "maxLength": 200}, "The profile's name."),
        Param("interpolation", {"type": "string", "enum": ["linear", "step"]}),
        Param("absolute", FLAG_SCHEMA, "Keep the dates as dates."),
    ),
    responses={200: Profile, 201: Profile},
    errors=(409,),
    tag="profiles",
)
async def import_csv(request: web.Request) -> web.Response:
    profile_id = path_id(request)
    raw = await request.read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadRequest("bad CSV", {"field": "body", "message": "not UTF-8"}) from exc
    try:
        interpolation = Interpolation(request.query.get("interpolation", "linear"))
    except ValueError as exc:
        raise BadRequest(
            "bad interpolation", {"field": "interpolation", "message": "linear or step"}
        ) from exc
    name = request.query.get("name", "")
    if len(name) > 200:
        raise Invalid("invalid profile", [{"field": "name", "message": "at most 200 characters"}])
    profile = parse_profile_csv(
        text, profile_id, name, interpolation, absolute=query_flag(request, "absolute")
    )
    version = query_int(request, "version") or 0
    saved, created = request.app[STORE].put(
        "profiles", profile.model_copy(update={"version": version})
    )
    return model_response(saved, 201 if created else 200)
