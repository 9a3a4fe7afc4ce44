"""Log records on `<prefix>/logs/<source>`: `{"level", "message", "source", "ts"}`.

Services publish WARNING and above (services.common.logs); devices and the UI may
publish any level. `ts` and `source` may be missing: a receiver fills them in from
its clock and the topic.
"""

from __future__ import annotations

from enum import IntEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator


class LogLevel(IntEnum):
    """Python's logging levels, by name as they travel (`"warning"`)."""

    debug = 10
    info = 20
    warning = 30
    error = 40
    critical = 50

    @classmethod
    def parse(cls, name: str) -> LogLevel:
        """`"WARNING"`, `"warn"`, `"Error"`, `"fatal"` … → the level; ValueError if unknown."""
        key = name.strip().lower()
        key = {"warn": "warning", "fatal": "critical", "err": "error"}.get(key, key)
        try:
            return cls[key]
        except KeyError:
            raise ValueError(
                f"unknown log level {name!r}; expected one of {', '.join(m.name for m in cls)}"
            ) from None


class LogRecord(BaseModel):
    model_config = ConfigDict(extra="ignore")

    level: str = Field("info", description="debug, info, warning, error or critical.")
    message: str = Field(..., max_length=10_000)
    source: str = Field("", max_length=100, description="Who logged it (service, device, ui).")
    ts: float | None = Field(None, description="Unix seconds; missing means 'when received'.")

    @field_validator("level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        return LogLevel.parse(value).name
