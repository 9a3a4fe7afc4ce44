from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from ..topics import check_segment, check_topic

_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def _check_id(value: str) -> str:
    if not _ID.fullmatch(value):
        raise ValueError(
            "must be 1-63 characters of lowercase letters, digits, '-' or '_', starting with a letter or digit"
        )
    return value


def is_id(value: str) -> bool:
    """Whether `value` is a valid object id (see `Id`)."""
    return bool(_ID.fullmatch(value))


Id = Annotated[str, AfterValidator(_check_id)]
"""An object id that is also safe as an MQTT topic segment and a URL path segment."""

MqttTopic = Annotated[str, AfterValidator(check_topic)]
"""A topic a device publishes or is commanded on: no wildcards, nothing the broker refuses.

The controller's MQTT client is shared by every device, and Mosquitto disconnects a
client that sends a topic it refuses, so such a topic is refused when configured."""

Celsius = Annotated[float, Field(ge=-50.0, le=150.0)]
"""A temperature a brewery can plausibly ask for, in °C."""

Percent = Annotated[float, Field(ge=0.0, le=100.0)]
Seconds = Annotated[float, Field(ge=0.0)]

TopicSegment = Annotated[str, AfterValidator(check_segment)]
"""One level of a device's own topic (a Tasmota topic, an iSpindel name)."""


class Strict(BaseModel):
    """Unknown fields are refused: a typo must not be silently ignored."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)
