"""Retention and recording settings: the app setting `history`.

The Config API stores settings (`PUT /api/settings/history`) and publishes each
one's bare JSON value, retained, on `<prefix>/config/settings/<key>`; the
recorder follows `history` live. A value that cannot be used is logged and the
previous settings kept.
"""

from __future__ import annotations

from fnmatch import fnmatchcase

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.common import jsontext
from services.common.problems import first_problem

KEY = "history"


class HistorySettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    raw_days: float = Field(14.0, ge=1, description="Keep every raw sample this many days.")
    rollup_days: float = Field(
        0.0, ge=0, description="Keep 1-minute min/avg/max this many days; 0 keeps them forever."
    )
    log_days: float = Field(365.0, ge=0, description="Keep log records this long; 0 = forever.")
    log_rows: int = Field(
        100_000, ge=0, description="Keep at most this many log records, the newest; 0 = no limit."
    )
    heartbeat_s: float = Field(
        60.0, ge=1, le=3600, description="Store a value that holds at least this often."
    )
    deadband: float | dict[str, float] = Field(
        0.0,
        description="A change smaller than or equal to this is not stored (until the heartbeat); "
        "a number for every series, or {series pattern: dead band}, first match wins.",
    )

    def deadband_for(self, series: str) -> float:
        if isinstance(self.deadband, dict):
            for pattern, band in self.deadband.items():
                if fnmatchcase(series, pattern):
                    return max(0.0, band)
            return 0.0
        return max(0.0, self.deadband)

    @property
    def effective_rollup_days(self) -> float:
        """Rollups never go before the raw samples they summarise (0 = forever)."""
        return 0.0 if self.rollup_days == 0 else max(self.rollup_days, self.raw_days)


def parse_settings(payload: bytes) -> HistorySettings:
    """The `history` setting's value: a JSON object of the fields above (missing ones
    take their defaults); an empty payload (setting deleted) means all defaults.
    ValueError says what is wrong with it."""
    if not payload.strip():
        return HistorySettings()
    try:
        value = jsontext.loads(payload)
    except ValueError:
        raise ValueError("the history setting is not JSON") from None
    if isinstance(value, dict) and set(value) == {"value"}:
        value = value["value"]  # the whole stored setting rather than its bare value
    if not isinstance(value, dict):
        raise ValueError('the history setting is a JSON object, e.g. {"raw_days": 30}')
    try:
        return HistorySettings.model_validate(value)
    except ValidationError as exc:
        raise ValueError(f"history setting {first_problem(exc)}") from None
