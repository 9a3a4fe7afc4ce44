"""What `/api/notifications` takes and gives: targets, rules, deliveries, test results.

A target's `url` is an Apprise URL and usually holds a secret (a bot token, a
password); responses carry Apprise's own privacy form of it (`tgram://1...N/…`,
`mailto://user:****@…`), never the stored URL.
"""

from __future__ import annotations

from datetime import time as dtime
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, field_validator, model_validator

from services.common.schema.base import Id, Strict
from services.common.schema.config import Severity


class TargetState(StrEnum):
    unknown = "unknown"  # nothing sent yet
    ok = "ok"
    failing = "failing"  # the last attempt failed


class Target(Strict):
    id: Id
    name: str = Field("", max_length=100)
    url: str = Field(
        "",
        max_length=2000,
        description="An Apprise URL (ntfy://, tgram://, mailto://, json://, …). Write-only: "
        "responses show it masked; send it back unchanged (or leave it out) to keep it.",
    )
    enabled: bool = True
    max_per_hour: int = Field(
        20,
        ge=1,
        le=3600,
        description="Rate limit: at most this many messages an hour; beyond it messages wait "
        "and go out together as one digest.",
    )


class TargetStatus(BaseModel):
    state: TargetState = TargetState.unknown
    failures: int = Field(0, description="Consecutive failed attempts.")
    last_error: str | None = None
    last_failure_at: float | None = None
    last_success_at: float | None = None


class TargetOut(Target):
    """A target as served: the URL masked, with how delivery to it is faring."""

    status: TargetStatus = TargetStatus()


class QuietHours(Strict):
    """A daily window (e.g. 22:00 → 07:00) in which low and medium alarms wait for morning.

    High and critical alarms are never held.
    """

    start: dtime
    end: dtime
    timezone: str | None = Field(
        None, description="IANA zone, e.g. Europe/Berlin; default: the API host's zone."
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value


class Event(StrEnum):
    step_changed = "step_changed"
    profile_finished = "profile_finished"


class Rule(Strict):
    id: Id
    name: str = Field("", max_length=100)
    enabled: bool = True
    targets: list[Id] = Field(..., min_length=1, description="Where matching alarms go.")
    alarms: bool = Field(True, description="Whether this rule sends alarms at all.")
    severities: list[Severity] = Field(
        default_factory=list, description="Only alarms of these severities; empty = all."
    )
    loops: list[Id] = Field(
        default_factory=list,
        description="Only alarms of these loops or of the devices they use; empty = all.",
    )
    sources: list[str] = Field(
        default_factory=list,
        description="Only alarms with these sources (a loop, device or client id); empty = all.",
    )
    kinds: list[str] = Field(
        default_factory=list, description="Only these alarm kinds (sensor, high, …); empty = all."
    )
    events: list[Event] = Field(
        default_factory=list, description="Loop events sent to the targets as well."
    )
    quiet_hours: QuietHours | None = None
    repeat_every_min: float | None = Field(
        None, gt=0, description="Re-send an active, unacknowledged alarm every N minutes."
    )
    escalate_after_min: float | None = Field(
        None, gt=0, description="Still unacknowledged after M minutes: also send to escalate_to."
    )
    escalate_to: list[Id] = Field(default_factory=list)
    send_resolved: bool = Field(True, description='Send "resolved" when the alarm clears.')

    @model_validator(mode="after")
    def _escalation_complete(self) -> Rule:
        if self.escalate_after_min is not None and not self.escalate_to:
            raise ValueError("escalate_after_min needs escalate_to (the second target)")
        return self


class DeliveryState(StrEnum):
    pending = "pending"
    sending = "sending"  # a test, in flight
    sent = "sent"
    failed = "failed"  # gave up after the last retry


class Delivery(BaseModel):
    """One message to one target: the outbox and the delivery log."""

    id: int
    target: str
    rule: str | None
    alarm_id: str | None
    event: str = Field(description="raised, reminder, escalation, resolved, test, or an event.")
    severity: str
    title: str
    body: str
    created_at: float
    due_at: float
    attempts: int
    state: DeliveryState
    last_error: str | None
    sent_at: float | None
    merged_into: int | None = Field(None, description="Sent within that delivery's digest.")


class Overview(BaseModel):
    targets: list[TargetOut]
    rules: list[Rule]
    deliveries: list[Delivery] = Field(description="The latest deliveries, newest first.")


class TestRequest(Strict):
    target: Id
    message: str = Field("Test notification from Maelstrom.", min_length=1, max_length=1000)


class TestResult(BaseModel):
    target: str
    ok: bool
    error: str | None = None
    elapsed_s: float
    delivery: int = Field(description="The delivery log entry.")
