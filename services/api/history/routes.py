"""`/api/history…` and `/api/logs`: charts, the series list, CSV export, annotations,
loop events, alarm history and log history.

Every query runs on a reader thread, never in the event loop. Bad parameters get
a 400 naming the parameter; a database that cannot answer gets the API's 503
(services/api/errors.py).
"""

from __future__ import annotations

import asyncio
import csv
import io
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from typing import Any, TypeVar

import peewee
from aiohttp import web
from pydantic import BaseModel, ValidationError

from services.api.database import database
from services.api.errors import BadRequest, NotFound, invalid
from services.api.validation import SQLITE_MAX_INT, read_object
from services.common.clock import Clock
from services.common.problems import problems
from services.common.schema.logs import LogLevel

from . import query
from .openapi import describe
from .recorder import Recorder
from .schemas import (
    MAX_SERIES,
    AlarmHistoryQuery,
    AlarmHistoryResponse,
    AnnotationIn,
    AnnotationOut,
    AnnotationsQuery,
    AnnotationsResponse,
    EventsQuery,
    EventsResponse,
    ExportQuery,
    HistoryQuery,
    HistoryResponse,
    LogsQuery,
    LogsResponse,
    NoQuery,
    RangeQuery,
    RecorderStatus,
    SeriesListResponse,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
Q = TypeVar("Q", bound=BaseModel)

RECORDER = web.AppKey("history_recorder", Recorder)
READERS = web.AppKey("history_readers", ThreadPoolExecutor)
CLOCK = web.AppKey("history_clock", Clock)  # type: ignore[type-abstract]

routes = web.RouteTableDef()

IGNORED_PARAMS = {"token"}
"""`?token=` is the API token where a header cannot be set (a CSV download link)."""


# --- plumbing -----------------------------------------------------------------------------


def _query_error(exc: ValidationError) -> BadRequest:
    """A 400 naming each bad query parameter, the first in the message."""
    details = problems(exc, whole="query", messages={"extra_forbidden": "unknown query parameter"})
    first = details[0]
    return BadRequest(f"invalid query parameter '{first['field']}': {first['message']}", details)


def parse_query(request: web.Request, model: type[Q]) -> Q:
    params: dict[str, Any] = {}
    for key in request.query.keys() - IGNORED_PARAMS:
        values = request.query.getall(key)
        params[key] = ",".join(values) if key == "series" else values[-1]
    try:
        parsed = model.model_validate(params, context={"now": request.app[CLOCK].now()})
    except ValidationError as exc:
        raise _query_error(exc) from None
    if isinstance(parsed, RangeQuery) and parsed.start >= parsed.end:
        message = "must be before 'to'"
        raise BadRequest(
            f"invalid query parameter 'from': {message}", [{"field": "from", "message": message}]
        )
    return parsed


async def read(request: web.Request, fn: Callable[..., T], *args: Any) -> T:
    """Run a query on a reader thread with its own connection."""

    def run() -> T:
        with database.connection_context():
            return fn(*args)

    return await asyncio.get_running_loop().run_in_executor(request.app[READERS], run)


def _expand(patterns: list[str], known: list[str]) -> list[str]:
    """Series names from names and `*` patterns, in the order asked, without repeats."""
    names: list[str] = []
    for pattern in patterns:
        found = [k for k in known if fnmatchcase(k, pattern)] if "*" in pattern else [pattern]
        names.extend(n for n in found if n not in names)
    if len(names) > MAX_SERIES:
        raise BadRequest(
            f"invalid query parameter 'series': {len(names)} series; at most {MAX_SERIES}",
            [{"field": "series", "message": f"at most {MAX_SERIES} series at once"}],
        )
    return names


# --- series ---------------------------------------------------------------------------------


@routes.get("/api/history")
@describe(
    "Series over a range, downsampled on the server",
    description="At most `points` values per series; each bucket keeps its true min and "
    "max, so peaks survive. See docs/history.md.",
    query=HistoryQuery,
    responses={200: HistoryResponse},
)
async def get_history(request: web.Request) -> web.Response:
    """At most `points` values per series over a range, min and max of every bucket kept."""
    q = parse_query(request, HistoryQuery)
    if any("*" in s for s in q.series):
        names = _expand(q.series, await read(request, query.known_series))
    else:
        names = _expand(q.series, [])

    def fetch() -> list[query.SeriesData]:
        return [query.read_series(n, q.start, q.end, q.points) for n in names]

    series = await read(request, fetch)
    return web.json_response(
        {
            "from": q.start,
            "to": q.end,
            "points": q.points,
            "series": [s.__dict__ for s in series],
        }
    )


@routes.get("/api/history/series")
@describe("The recorded series", responses={200: SeriesListResponse})
async def get_series(request: web.Request) -> web.Response:
    """Every recorded series, with its first and last time and how many samples it holds."""
    parse_query(request, NoQuery)
    return web.json_response({"series": await read(request, query.series_list)})


@routes.get("/api/history/export.csv")
@describe(
    "Stored samples of a range as CSV (streamed)",
    description="Columns `time,ts,series,unit,value,min,max`; one series after another, "
    "oldest first. Where raw samples are retired, 1-minute rollups stand in "
    "(value = average, with min and max). `format=wide`: `time,ts` and a column per "
    "series (`<series> [<unit>]`), one row per time, empty where a series has no sample "
    "then. `unit=F` gives temperatures in °F.",
    query=ExportQuery,
    responses={200: {"content": {"text/csv": {"type": "string"}}}},
)
async def export_csv(request: web.Request) -> web.StreamResponse:
    """Stored samples of a range as CSV, streamed (one series after another, oldest first)."""
    q = parse_query(request, ExportQuery)
    known = await read(request, query.known_series)
    names = _expand(q.series, known) if q.series else known
    pages = query.export_pages(names, q.start, q.end)

    def next_page() -> list[query.ExportRow] | None:
        with database.connection_context():
            return next(pages, None)

    stamp = datetime.fromtimestamp(q.start, UTC).strftime("%Y%m%dT%H%M%SZ")
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="maelstrom-history-{stamp}.csv"',
        }
    )
    await response.prepare(request)
    convert = _converter(q.unit)
    loop = asyncio.get_running_loop()
    wide: dict[str, dict[float, float | None]] = {}
    units: dict[str, str] = {}
    if q.format == "long":
        await response.write(b"time,ts,series,unit,value,min,max\r\n")
    try:
        while (page := await loop.run_in_executor(request.app[READERS], next_page)) is not None:
            rows = [convert(row) for row in page]
            if q.format == "long":
                await response.write(_csv(rows))
                continue
            for ts, series, unit, value, _mn, _mx in rows:
                wide.setdefault(series, {})[ts] = value
                units[series] = unit
    except peewee.PeeweeException as exc:
        # Headers are gone; all we can do is stop short and say so in the log.
        log.warning("history: CSV export stopped by a database error: %s", exc)
    if q.format == "wide":
        await response.write(_wide_csv(wide, units))
    await response.write_eof()
    return response


def _converter(unit: str) -> Callable[[query.ExportRow], query.ExportRow]:
    """Temperatures to the unit asked for; the database keeps °C."""
    if unit != "F":
        return lambda row: row

    def to_f(v: float | None) -> float | None:
        return None if v is None else round(v * 1.8 + 32, 4)

    def convert(row: query.ExportRow) -> query.ExportRow:
        ts, series, u, value, mn, mx = row
        if u != "°C":
            return row
        return (ts, series, "°F", to_f(value), to_f(mn), to_f(mx))

    return convert


def _wide_csv(columns: dict[str, dict[float, float | None]], units: dict[str, str]) -> bytes:
    """One row per time any series has a sample, a column per series (in the order asked)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    names = list(columns)
    writer.writerow(["time", "ts", *(f"{n} [{units[n]}]" if units[n] else n for n in names)])
    for ts in sorted({t for col in columns.values() for t in col}):
        cells = [_num(columns[n][ts]) if ts in columns[n] else "" for n in names]
        writer.writerow((_iso(ts), f"{ts:.3f}", *cells))
    return out.getvalue().encode()


def _csv(rows: list[query.ExportRow]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for ts, series, unit, value, mn, mx in rows:
        writer.writerow((_iso(ts), f"{ts:.3f}", series, unit, _num(value), _num(mn), _num(mx)))
    return out.getvalue().encode()


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _num(value: float | None) -> str:
    return "" if value is None else repr(value)


# --- events, alarms, logs ----------------------------------------------------------------------


@routes.get("/api/history/events")
@describe(
    "Loop mode, state, profile and step changes", query=EventsQuery, responses={200: EventsResponse}
)
async def get_events(request: web.Request) -> web.Response:
    """Loop mode, state, profile and step changes, oldest first."""
    q = parse_query(request, EventsQuery)
    rows = await read(request, query.events, q.start, q.end, q.loop, q.kind, q.limit)
    return web.json_response({"events": rows})


@routes.get("/api/history/alarms")
@describe(
    "Alarm history: every raise, acknowledgement, clear and removal",
    query=AlarmHistoryQuery,
    responses={200: AlarmHistoryResponse},
)
async def get_alarm_history(request: web.Request) -> web.Response:
    """Every change in every alarm's life (raised, acknowledged, cleared, removed), newest first."""
    q = parse_query(request, AlarmHistoryQuery)

    def fetch() -> list[dict[str, object]]:
        return query.alarm_history(
            q.start,
            q.end,
            state=q.state,
            event=q.event,
            alarm=q.alarm,
            source=q.source,
            limit=q.limit,
        )

    return web.json_response({"alarms": await read(request, fetch)})


@routes.get("/api/logs")
@describe("Recorded log records", query=LogsQuery, responses={200: LogsResponse})
async def get_logs(request: web.Request) -> web.Response:
    """Recorded log records at or above `level`, newest first."""
    q = parse_query(request, LogsQuery)
    level = int(LogLevel.parse(q.level))
    rows = await read(request, query.log_history, q.start, q.end, level, q.source, q.limit)
    return web.json_response(
        {
            "logs": [
                {"ts": ts, "level": LogLevel(lvl).name, "source": src, "message": msg}
                for ts, lvl, src, msg in rows
            ]
        }
    )


# --- annotations -------------------------------------------------------------------------------


@routes.get("/api/history/annotations")
@describe(
    "A brewer's notes on the timeline", query=AnnotationsQuery, responses={200: AnnotationsResponse}
)
async def get_annotations(request: web.Request) -> web.Response:
    q = parse_query(request, AnnotationsQuery)
    rows = await read(request, query.annotations, q.start, q.end, q.loop)
    return web.json_response({"annotations": rows})


@routes.post("/api/history/annotations")
@describe("Add a note to the timeline", body=AnnotationIn, responses={201: AnnotationOut})
async def post_annotation(request: web.Request) -> web.Response:
    """Add a note to the timeline: `{"text": "pitched yeast", "loop": "fermenter"}`."""
    body = await read_object(request, "annotation")
    now = request.app[CLOCK].now()
    try:
        note = AnnotationIn.model_validate(body, context={"now": now})
    except ValidationError as exc:
        raise invalid("annotation", exc) from None
    created = await read(
        request,
        query.add_annotation,
        note.ts if note.ts is not None else now,
        note.text,
        note.loop,
        now,
    )
    return web.json_response(created, status=201)


@routes.delete("/api/history/annotations/{id}")
@describe("Delete a note", responses={204: None}, errors=(404,), path={"id": {"type": "integer"}})
async def delete_annotation(request: web.Request) -> web.Response:
    raw = request.match_info["id"]
    if not (raw.isascii() and raw.isdigit()):
        raise BadRequest("bad id", {"field": "id", "message": f"{raw[:40]!r} is not a number"})
    # SQLite's integers are 64-bit: a larger id names no note (and would overflow the query).
    if int(raw) > SQLITE_MAX_INT or not await read(request, query.delete_annotation, int(raw)):
        raise NotFound("no such annotation", {"field": "id", "id": raw[:40]})
    return web.Response(status=204)


# --- the recorder ---------------------------------------------------------------------------------


@routes.get("/api/history/status")
@describe("The recorder's state and the history settings in force", responses={200: RecorderStatus})
async def get_status(request: web.Request) -> web.Response:
    """Is the recorder listening, how much is waiting, and the retention settings in force."""
    parse_query(request, NoQuery)
    return web.json_response(request.app[RECORDER].status())
