"""`POST /api/ingest/ispindel`: an iSpindel or GravityMon posting its generic HTTP JSON.

The post is matched by `name` to an `ispindel` MQTT device, its `token` checked
against the device's `mqtt.token`, validated, and published on the device's own
MQTT topics (`ispindel/<name>/temperature`, `…/gravity`, …) exactly as an
iSpindel in MQTT mode would: the controller turns them into readings the same
way, so HTTP and MQTT iSpindels cannot drift apart. Nothing is published unless
the whole post is good.
"""

from __future__ import annotations

import hmac
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from services.api.errors import ApiError, Invalid, NotFound, invalid
from services.api.openapi import describe
from services.api.store import STORE
from services.api.validation import parse_json
from services.common.schema.config import Device, DeviceKind, MqttPreset, Sensor
from services.common.topics import NativeTopics, TopicError, check_segment
from services.common.web import MQTT

routes = web.RouteTableDef()

FAHRENHEIT = {"°f", "f", "fahrenheit", "degf", "℉"}


class Unauthorized(ApiError):
    status = 401
    error = "unauthorized"


class ISpindelPost(BaseModel):
    """The iSpindel firmware's (and GravityMon's) generic HTTP JSON. Unknown fields are ignored."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    name: str = Field(..., min_length=1, max_length=64, description="The iSpindel's name.")
    ID: int | str | None = Field(None, description="Chip id.")
    token: str = Field("", max_length=200)
    angle: float | None = Field(None, ge=-180, le=180, description="Tilt, degrees.")
    temperature: float | None = None
    temp_units: Literal["C", "F", "K"] = "C"
    battery: float | None = Field(None, ge=0, le=10, description="Volts.")
    gravity: float | None = Field(None, ge=-10, le=100, description="SG or °Plato.")
    corr_gravity: float | None = Field(
        None, alias="corr-gravity", ge=-10, le=100, description="GravityMon: temperature-corrected."
    )
    gravity_format: Literal["G", "P"] | None = Field(
        None, alias="gravity-format", description="GravityMon: G = SG, P = °Plato."
    )
    interval: int | None = Field(None, ge=0, le=86400 * 7, description="Seconds between posts.")
    RSSI: int | None = Field(None, ge=-150, le=0, description="Wi-Fi signal, dBm.")

    @field_validator("name")
    @classmethod
    def _topic_safe(cls, value: str) -> str:
        try:
            return check_segment(value, "iSpindel name")
        except TopicError as exc:
            raise ValueError(str(exc)) from exc

    def celsius(self) -> float | None:
        t = self.temperature
        if t is None:
            return None
        if self.temp_units == "F":
            t = (t - 32) * 5 / 9
        elif self.temp_units == "K":
            t = t - 273.15
        return round(t, 3)

    def fields(self) -> dict[str, float | int | str]:
        """What the firmware would publish in MQTT mode, topic field → value."""
        out: dict[str, float | int | str] = {}
        if self.angle is not None:
            out["tilt"] = self.angle
        celsius = self.celsius()
        if celsius is not None:
            out["temperature"] = celsius
            out["temp_units"] = "C"
        if self.battery is not None:
            out["battery"] = self.battery
        gravity = self.corr_gravity if self.corr_gravity is not None else self.gravity
        if gravity is not None:
            out["gravity"] = gravity
        if self.interval is not None:
            out["interval"] = self.interval
        if self.RSSI is not None:
            out["RSSI"] = self.RSSI
        return out


class Ingested(BaseModel):
    device: str
    published: dict[str, float | int | str] = Field(description="Topic → value published.")


def _find_device(devices: list[Any], name: str) -> Device | None:
    for device in devices:
        if (
            isinstance(device, Device)
            and device.kind == DeviceKind.mqtt
            and device.mqtt is not None
            and device.mqtt.preset == MqttPreset.ispindel
            and (device.mqtt.name or device.id) == name
        ):
            return device
    return None


def _field(sensor: Sensor) -> str:
    return sensor.address or sensor.id


def topics_for(device: Device, name: str, fields: dict[str, float | int | str]) -> dict[str, Any]:
    """The firmware's topics, plus any sensor of the device mapped to its own topic."""
    out: dict[str, Any] = {NativeTopics.ispindel(name, k): v for k, v in fields.items()}
    for sensor in device.sensors:
        field = {"angle": "tilt"}.get(_field(sensor), _field(sensor))
        if field not in fields:
            continue
        value = fields[field]
        if field == "temperature" and sensor.unit.strip().lower() in FAHRENHEIT:
            value = round(float(value) * 9 / 5 + 32, 3)  # the controller converts it back
        out[sensor.topic or NativeTopics.ispindel(name, _field(sensor))] = value
    return out


@routes.post("/api/ingest/ispindel")
@describe(
    "Take a reading from an iSpindel or GravityMon (generic HTTP JSON)",
    description="Matched by `name` to an `ispindel` MQTT device whose `mqtt.token` equals "
    "`token`; published on the device's MQTT topics like an iSpindel in MQTT mode. "
    "Open even with MAELSTROM_API_TOKEN set: the device token guards it.",
    body=ISpindelPost,
    responses={200: Ingested},
    errors=(401, 404),
    tag="ingest",
)
async def ingest_ispindel(request: web.Request) -> web.Response:
    # iSpindels send application/json, some HTTP bridges text/plain: the body decides.
    data = parse_json(await request.read())
    if not isinstance(data, dict):
        raise Invalid(
            "invalid iSpindel post", [{"field": "body", "message": "expected a JSON object"}]
        )
    try:
        post = ISpindelPost.model_validate(data)
    except ValidationError as exc:
        raise invalid("iSpindel post", exc) from exc
    device = _find_device(request.app[STORE].list("devices"), post.name)
    if device is None:
        raise NotFound(
            f"no ispindel device named {post.name!r}",
            {"field": "name", "message": "add an mqtt device with preset ispindel and this name"},
        )
    assert device.mqtt is not None
    expected = device.mqtt.token
    if not expected or not hmac.compare_digest(post.token.encode(), expected.encode()):
        raise Unauthorized(
            "bad token",
            {"field": "token", "message": "must equal the device's mqtt.token"},
        )
    published = topics_for(device, post.name, post.fields())
    mqtt = request.app[MQTT]
    for topic, value in published.items():
        mqtt.publish(topic, str(value), qos=1)
    return web.json_response(Ingested(device=device.id, published=published).model_dump())
