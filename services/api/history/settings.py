"""Retention and recording settings, read from `<prefix>/config/settings/history.*`.

The Config API stores settings and publishes each one, retained, on
`<prefix>/config/settings/<key>`; the recorder follows them live. A value that
cannot be used is logged and the previous one kept.
"""

from __future__ import annotations

import json
from fnmatch import fnmatchcase
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

PREFIX = "history."


class HistorySettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    raw_days: float = Field(14.0, ge=1, description="Keep every raw sample this many days.")
    rollup_days: float = Field(
        0.0, ge=0, description="Keep 1-minute min/avg/max this many days; 0 keeps them forever."
    )
    log_days: float = Field(365.0, ge=0, description="Keep log records this long; 0 = forever.")
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


FIELDS = {f"{PREFIX}{name}": name for name in HistorySettings.model_fields}
"""Setting key → field, e.g. `history.raw_days` → `raw_days`."""


def decode_setting(payload: bytes) -> Any:
    """A setting's value: JSON, or `{"value": …}`, or bare text; None when removed."""
    if not payload.strip():
        return None
    try:
        value = json.loads(payload)
    except ValueError:
        return payload.decode("utf-8", errors="replace").strip()
    if isinstance(value, dict) and "value" in value and ("key" in value or len(value) == 1):
        return value["value"]
    return value


def apply_setting(current: HistorySettings, key: str, payload: bytes) -> HistorySettings:
    """`current` with `key` set from `payload` (removed → default); ValueError if unusable."""
    field = FIELDS.get(key)
    if field is None:
        raise KeyError(key)
    value = decode_setting(payload)
    data = current.model_dump()
    if value is None:
        data[field] = HistorySettings.model_fields[field].default
    else:
        data[field] = value
    try:
        return HistorySettings.model_validate(data)
    except ValidationError as exc:
        raise ValueError(f"setting {key}: {exc.errors()[0]['msg']}") from exc
