"""Request and response shapes of the history REST API (validated at the edge, and
the source of its OpenAPI description)."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from services.common.schema.base import Id
from services.common.schema.logs import LogLevel

DEFAULT_SPAN_S = 86_400.0
MAX_POINTS = 10_000
MAX_SERIES = 50
MAX_LIMIT = 10_000
_RELATIVE = re.compile(r"^-\s*(\d+(?:\.\d+)?)\s*([smhdw])$")
_LOST_PLUS = re.compile(r"^(\d{4}-\d\d-\d\d[T ]\d\d:\d\d(?::\d\d(?:\.\d+)?)?) (\d\d(?::?\d\d)?)$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
_MS_THRESHOLD = 1e11  # a number this large is milliseconds (JavaScript's Date.now())

TIME_HELP = (
    "Unix seconds (1795550647.5), milliseconds (1795550647500), ISO 8601 "
    "(2026-11-24T18:00:00Z; no zone means UTC), 'now', or relative: -90s, -30m, -24h, -7d, -2w."
)


def parse_time(value: Any, now: float) -> float:
    """A point in time from a query parameter, as Unix seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    else:
        text = str(value).strip()
        if not text:
            raise ValueError(f"empty; expected {TIME_HELP}")
        if text == "now":
            return now
        relative = _RELATIVE.match(text)
        if relative:
            return now - float(relative[1]) * _UNIT_S[relative[2]]
        try:
            number = float(text)
        except ValueError:
            # An unencoded '+' in a URL arrives as a space: "…T18:00:00 01:00".
            text = _LOST_PLUS.sub(r"\1+\2", text)
            try:
                when = datetime.fromisoformat(text)
            except ValueError:
                raise ValueError(f"{text!r} is not a time; expected {TIME_HELP}") from None
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            return when.timestamp()
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"{value!r} is not a time; expected {TIME_HELP}")
    return number / 1000 if number >= _MS_THRESHOLD else number


class _Query(BaseModel):
    """Query parameters: unknown ones are refused (a typo must not be silently ignored)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class NoQuery(_Query):
    """An endpoint that takes no query parameters."""


class RangeQuery(_Query):
    from_: float | None = Field(
        None, alias="from", description=f"Start (default: `to` − 24 h). {TIME_HELP}"
    )
    to: float | None = Field(None, description=f"End (default: now). {TIME_HELP}")

    @field_validator("from_", "to", mode="before")
    @classmethod
    def _time(cls, value: Any, info: ValidationInfo) -> float:
        return parse_time(value, _now(info))

    @model_validator(mode="after")
    def _defaults(self, info: ValidationInfo) -> RangeQuery:
        if self.to is None:
            self.to = _now(info)
        if self.from_ is None:
            self.from_ = self.to - DEFAULT_SPAN_S
        return self

    @property
    def start(self) -> float:
        assert self.from_ is not None
        return self.from_

    @property
    def end(self) -> float:
        assert self.to is not None
        return self.to


def _now(info: ValidationInfo) -> float:
    return float((info.context or {})["now"])


def _series_list(value: Any) -> list[str]:
    items = value if isinstance(value, list) else str(value).split(",")
    names = [s.strip() for s in items if s.strip()]
    for name in names:
        if len(name) > 255:
            raise ValueError("a series name is at most 255 characters")
    return names


class HistoryQuery(RangeQuery):
    series: list[str] = Field(
        ...,
        description="Comma-separated series names; `*` matches any characters "
        "(`loop/fermenter/*`).",
    )
    points: int = Field(1000, ge=1, le=MAX_POINTS, description="At most this many per series.")

    @field_validator("series", mode="before")
    @classmethod
    def _split(cls, value: Any) -> list[str]:
        names = _series_list(value)
        if not names:
            raise ValueError("name at least one series, e.g. series=loop/fermenter/pv")
        return names


class ExportQuery(RangeQuery):
    series: list[str] = Field(
        default_factory=list, description="Comma-separated names or patterns; default: all."
    )
    format: Literal["long", "wide"] = Field(
        "long",
        description="`long`: one row per sample (`time,ts,series,unit,value,min,max`); "
        "`wide`: one row per time, a column per series (a spreadsheet's and BrewPi's shape).",
    )
    unit: Literal["C", "F"] = Field(
        "C", description="Temperatures (series in °C) in °C or °F; the rest as stored."
    )

    @field_validator("series", mode="before")
    @classmethod
    def _split(cls, value: Any) -> list[str]:
        return _series_list(value)


class EventsQuery(RangeQuery):
    loop: str | None = None
    kind: Literal["mode", "state", "profile", "step"] | None = None
    limit: int = Field(1000, ge=1, le=MAX_LIMIT)


class AlarmHistoryQuery(RangeQuery):
    state: Literal["active", "cleared"] | None = Field(None, description="The alarm's state.")
    event: Literal["raised", "acknowledged", "cleared", "removed", "updated"] | None = None
    alarm: str | None = Field(None, description="One alarm's id.")
    source: str | None = Field(None, description="The loop or device it concerns.")
    limit: int = Field(500, ge=1, le=MAX_LIMIT)


class LogsQuery(RangeQuery):
    level: str = Field("debug", description="Minimum level: debug, info, warning, error, critical.")
    source: str | None = None
    limit: int = Field(200, ge=1, le=MAX_LIMIT)

    @field_validator("level")
    @classmethod
    def _level(cls, value: str) -> str:
        return LogLevel.parse(value).name


class AnnotationsQuery(RangeQuery):
    loop: str | None = Field(None, description="This loop's notes and the general ones.")


# --- bodies ---------------------------------------------------------------------------------


class AnnotationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ts: float | None = Field(None, description=f"When (default: now). {TIME_HELP}")
    text: str = Field(..., min_length=1, max_length=500)
    loop: Id | None = Field(None, description="The loop it concerns; none: every chart.")

    @field_validator("ts", mode="before")
    @classmethod
    def _time(cls, value: Any, info: ValidationInfo) -> float | None:
        return None if value is None else parse_time(value, _now(info))

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("text may not be blank")
        return value.strip()


# --- responses ------------------------------------------------------------------------------


class SeriesPoints(BaseModel):
    name: str
    unit: str = Field(..., description="°C, %, SG, °P … (empty for an unknown series).")
    kind: str = Field(..., description="loop, sensor, or empty for an unknown series.")
    bucket_s: float = Field(
        ...,
        description="0: the stored samples as they are. Otherwise each point summarises "
        "the bucket [t, t + bucket_s).",
    )
    t: list[float] = Field(..., description="Unix seconds: sample time, or bucket start.")
    min: list[float | None]
    avg: list[float | None]
    max: list[float | None]
    count: list[int] = Field(..., description="Samples behind each point.")


class HistoryResponse(BaseModel):
    from_: float = Field(..., alias="from")
    to: float
    points: int
    series: list[SeriesPoints]


class SeriesInfo(BaseModel):
    name: str = Field(..., description="loop/<loop>/pv|sp|heat|cool or sensor/<device>/<sensor>")
    kind: str
    unit: str
    first: float | None = Field(..., description="Oldest value kept (Unix seconds).")
    last: float | None = Field(..., description="Newest value (Unix seconds).")
    count: int = Field(..., description="Raw samples kept.")


class SeriesListResponse(BaseModel):
    series: list[SeriesInfo]


class EventOut(BaseModel):
    ts: float
    loop: str
    kind: str = Field(..., description="mode, state, profile or step")
    value: str | None


class EventsResponse(BaseModel):
    events: list[EventOut]


class AlarmRecordOut(BaseModel):
    ts: float = Field(..., description="When this change happened.")
    id: str
    event: str = Field(..., description="raised, acknowledged, cleared, removed, updated")
    state: str
    acknowledged: bool
    acknowledged_by: str | None
    severity: str
    kind: str
    source: str
    message: str
    raised_at: float | None
    cleared_at: float | None
    acknowledged_at: float | None


class AlarmHistoryResponse(BaseModel):
    alarms: list[AlarmRecordOut]


class LogOut(BaseModel):
    ts: float
    level: str
    source: str
    message: str


class LogsResponse(BaseModel):
    logs: list[LogOut]


class AnnotationOut(BaseModel):
    id: int
    ts: float
    text: str
    loop: str | None
    created_at: float


class AnnotationsResponse(BaseModel):
    annotations: list[AnnotationOut]


class RecorderStatus(BaseModel):
    subscribed: bool = Field(..., description="Listening to data, alarms, logs and settings.")
    received: int = Field(..., description="Samples, events, alarms and logs received since start.")
    pending: int = Field(..., description="Received, waiting for the next batch write.")
    stored: int = Field(..., description="Raw samples stored since the API started.")
    batch_s: float
    last_write: float | None
    write_failures: int
    dropped: int
    settings: dict[str, Any]


class ErrorOut(BaseModel):
    error: str
    detail: Any = None
