"""What `/api/streams` takes and gives: a stream of one loop's readings to a service."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field, model_validator

from services.common.schema.base import Id, Strict
from services.common.schema.config import IoRef


class StreamKind(StrEnum):
    brewfather = "brewfather"  # Custom Stream: http://log.brewfather.net/stream?id=<logging id>
    brewers_friend = "brewers_friend"  # https://log.brewersfriend.com/stream/<api key>
    webhook = "webhook"  # any URL, body from `template`


SERVICE_MIN_INTERVAL_MIN = 15.0
"""Brewfather and Brewer's Friend keep one post per device per 15 minutes and drop the rest."""


class Stream(Strict):
    id: Id
    kind: StreamKind
    url: str = Field(
        "",
        max_length=2000,
        description="Where to post. Holds the service's key: responses show it masked; send it "
        "back unchanged (or leave it out) to keep it.",
    )
    enabled: bool = True
    name: str = Field(
        "",
        max_length=100,
        description='The device name the service shows ("name"); default: the loop\'s.',
    )
    loop: Id = Field(..., description="temp, temp_target and heat_state come from this loop.")
    temp: IoRef | None = Field(
        None, description="Another sensor for temp (default: the loop's pv)."
    )
    aux_temp: IoRef | None = Field(None, description="Fridge / chamber temperature sensor.")
    ext_temp: IoRef | None = Field(None, description="Room temperature sensor.")
    gravity: IoRef | None = Field(None, description="e.g. an iSpindel's gravity sensor.")
    gravity_unit: str = Field("G", pattern="^[GP]$", description="G = SG, P = °Plato.")
    battery: IoRef | None = None
    angle: IoRef | None = None
    rssi: IoRef | None = None
    beer: str = Field("", max_length=100)
    comment: str = Field("", max_length=500)
    interval_min: float = Field(
        SERVICE_MIN_INTERVAL_MIN,
        ge=1,
        le=24 * 60,
        description="At most one post per interval (Brewfather, Brewer's Friend: 15 at least).",
    )
    template: Any = Field(
        None,
        description='Webhook body: any JSON; a string "{{field}}" becomes the value, '
        '"…{{field}}…" is filled in as text. Default: the Brewfather fields plus "ts".',
    )
    buffer_max: int = Field(
        2000, ge=1, le=100_000, description="Readings kept while the service is down."
    )

    @model_validator(mode="after")
    def _service_rules(self) -> Stream:
        if self.kind != StreamKind.webhook:
            if self.interval_min < SERVICE_MIN_INTERVAL_MIN:
                raise ValueError(
                    f"{self.kind.value} keeps one post per {SERVICE_MIN_INTERVAL_MIN:.0f} minutes: "
                    "interval_min must be at least 15"
                )
            if self.template is not None:
                raise ValueError("template is for webhook streams only")
        return self


class StreamStatus(BaseModel):
    last_success_at: float | None = None
    last_error: str | None = None
    last_error_at: float | None = None
    buffered: int = Field(0, description="Readings waiting to be posted.")
    next_post_at: float | None = None
    last_post: dict[str, Any] | None = Field(None, description="The body last posted.")


class StreamOut(Stream):
    status: StreamStatus = StreamStatus()
