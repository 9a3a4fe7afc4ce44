"""`/api/profiles`: temperature profiles, BrewPi's profile CSV in and out, and recipes
(BeerJSON 1.0, BeerXML 1.0) imported as step profiles, exported as BeerJSON."""

from __future__ import annotations

import json
from datetime import datetime

from aiohttp import web

from services.api.brewpi import format_profile_csv, parse_profile_csv
from services.api.errors import ApiError, BadRequest, Invalid, UnsupportedMediaType
from services.api.openapi import Param, describe
from services.api.recipes import MAX_DOCUMENT_BYTES, Imported, RecipeError, beerjson, beerxml
from services.api.routes.collection import VERSION_PARAM, collection_routes, model_response
from services.api.store import STORE
from services.api.validation import FLAG_SCHEMA, parse_json, path_id, query_flag, query_int
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


class TooLarge(ApiError):
    status = 413
    error = "payload too large"


RECIPE_TYPES = {
    "application/json": "beerjson",
    "application/xml": "beerxml",
    "text/xml": "beerxml",
}
IMPORT_RESPONSE = {
    "type": "object",
    "properties": {
        "recipe": {"type": "string"},
        "profiles": {"type": "array", "items": {"type": "object", "description": "Profile"}},
    },
}


@routes.post("/api/profiles/import")
@describe(
    "Import a recipe's mash and fermentation as step profiles",
    description="A BeerJSON 1.0 document (`application/json`, validated against its "
    "published schema) or a BeerXML 1.0 one (`application/xml`, `text/xml`; no entities). "
    "Creates one `mash` profile per mash procedure and one `fermentation` profile per "
    "fermentation procedure (ids from the names, made unique). An invalid document: 422 "
    "naming the element, and nothing is stored. See docs/programs.md.",
    body_content={
        "application/json": {"type": "object", "description": "BeerJSON 1.0"},
        "application/xml": {"type": "string", "description": "BeerXML 1.0"},
    },
    responses={201: IMPORT_RESPONSE},
    errors=(413, 415, 422),
    tag="profiles",
)
async def import_recipe(request: web.Request) -> web.Response:
    kind = RECIPE_TYPES.get(request.content_type)
    if kind is None:
        raise UnsupportedMediaType(
            detail={
                "field": "Content-Type",
                "message": "application/json (BeerJSON) or application/xml, text/xml (BeerXML)",
            }
        )
    if (request.content_length or 0) > MAX_DOCUMENT_BYTES:
        raise TooLarge(detail={"limit_bytes": MAX_DOCUMENT_BYTES})
    raw = await request.content.read(MAX_DOCUMENT_BYTES + 1)
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise TooLarge(detail={"limit_bytes": MAX_DOCUMENT_BYTES})
    try:
        imported: Imported = (
            beerjson.import_document(parse_json(raw))
            if kind == "beerjson"
            else beerxml.import_document(raw)
        )
    except RecipeError as exc:
        raise Invalid(
            f"invalid {'BeerJSON' if kind == 'beerjson' else 'BeerXML'}",
            {"element": exc.where, "message": exc.message},
        ) from exc
    store = request.app[STORE]
    taken = {p.id for p in store.list("profiles")}
    chosen: list[Profile] = []
    for profile in imported.profiles:
        base, n, profile_id = profile.id, 2, profile.id
        while profile_id in taken:
            profile_id = f"{base[:58]}-{n}"
            n += 1
        taken.add(profile_id)
        chosen.append(profile.model_copy(update={"id": profile_id}))
    created: list[Profile] = []
    try:
        for profile in chosen:
            created.append(store.create("profiles", profile))  # type: ignore[arg-type]
    except ApiError:
        for profile in created:  # all or nothing
            store.delete("profiles", profile.id)
        raise
    body = (
        '{"recipe":'
        + json.dumps(imported.recipe)
        + ',"profiles":['
        + ",".join(p.model_dump_json() for p in created)
        + "]}"
    )
    return web.Response(text=body, status=201, content_type="application/json")


@routes.get("/api/profiles/{id}/beerjson")
@describe(
    "Export a step profile as BeerJSON 1.0",
    description="A mash profile as a `mashes` record, any other as a `fermentations` "
    "record. Confirmation, attenuation and stable-gravity conditions have no BeerJSON "
    "equivalent and are left out; a gravity condition is `end_gravity`.",
    responses={200: {"content": {"application/json": {"type": "object"}}}},
    errors=(422,),
    tag="profiles",
)
async def export_beerjson(request: web.Request) -> web.Response:
    profile = request.app[STORE].get("profiles", path_id(request))
    assert isinstance(profile, Profile)
    try:
        document = beerjson.export_profile(profile)
    except RecipeError as exc:
        raise Invalid("cannot export", {"element": exc.where, "message": exc.message}) from exc
    return web.Response(
        text=json.dumps(document, ensure_ascii=False),
        content_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{profile.id}.beer.json"'},
    )
