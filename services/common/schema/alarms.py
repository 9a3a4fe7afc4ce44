"""Alarm records on `<prefix>/alarms/<id>` (retained) and their ISA-18.2 lifecycle.

    active & unacknowledged ──ack──▶ active & acknowledged
            │ condition clears                │ condition clears
            ▼                                 ▼
    cleared & unacknowledged ──ack──▶ (gone: empty retained payload; kept in history)

A cleared but unacknowledged alarm stays visible until someone acknowledges it.
The controller owns the lifecycle of every alarm (its own, and ones raised by any
other client on the alarms channel); acknowledgements arrive on `<id>/ack`.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from .config import Severity


class AlarmState(StrEnum):
    active = "active"
    cleared = "cleared"


class Alarm(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    message: str = Field(..., min_length=1, max_length=500)
    kind: str = Field(
        "external",
        description="sensor, high, low, deviation, setpoint_timeout, board_offline, input, band, silent, stuck, test, external",
    )
    severity: Severity = Severity.medium
    source: str = Field("", description="The loop or device it concerns.")
    state: AlarmState = AlarmState.active
    acknowledged: bool = False
    acknowledged_by: str | None = None
    raised_at: float = 0.0
    cleared_at: float | None = None
    acknowledged_at: float | None = None
    ts: float = 0.0

    @property
    def visible(self) -> bool:
        """Whether it still belongs on the alarms topic (else it is removed, kept in history)."""
        return self.state == AlarmState.active or not self.acknowledged

    def acknowledge(self, by: str, now: float) -> Alarm:
        if self.acknowledged:
            return self
        return self.model_copy(
            update={"acknowledged": True, "acknowledged_by": by, "acknowledged_at": now, "ts": now}
        )

    def clear(self, now: float) -> Alarm:
        if self.state == AlarmState.cleared:
            return self
        return self.model_copy(update={"state": AlarmState.cleared, "cleared_at": now, "ts": now})


class AlarmAck(BaseModel):
    """`<prefix>/alarms/<id>/ack`: `{"by": "..."}`, or an empty payload."""

    model_config = ConfigDict(extra="ignore")
    by: str = Field("mqtt", max_length=100, description='Who acknowledged; "mqtt" when unsaid.')
