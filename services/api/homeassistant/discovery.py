"""What each loop and board looks like to Home Assistant: pure discovery messages.

`loop_discovery(loop, settings)` and `device_discovery(device, settings)` turn a
configuration object into the retained messages Home Assistant's MQTT discovery
reads. Nothing is duplicated: every entity points straight at our own topics with
a template. A loop's thermostat reads `<prefix>/data/<loop>` (the controller's
retained LoopState) and sends the same commands as the UI and mosquitto_pub on
`<prefix>/cmd/loops/<loop>/setpoint` and `…/mode`.

The mappings between our loop modes and activity and Home Assistant's HVAC modes
and actions are data (below), rendered into Jinja templates Home Assistant runs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Literal, NamedTuple

from services.common.config import Config
from services.common.schema.config import Device, DeviceKind, Loop, LoopMode, Sensor
from services.common.schema.state import LoopActivity
from services.common.topics import DiscoveryTopics, Topics

Payload = dict[str, Any]
OwnerKind = Literal["loop", "device"]

MANUFACTURER = "Maelstrom"
CONTROLLER_SERVICE = "controller"
"""The service whose `online` / `offline` on `<prefix>/status/<service>` is every entity's availability."""


class Discovery(NamedTuple):
    """One retained discovery message: `<ha_prefix>/<component>/<node_id>/<object_id>/config`."""

    topic: str
    payload: Payload


class Owner(NamedTuple):
    """The configuration object a group of entities belongs to (one Home Assistant device)."""

    kind: OwnerKind
    id: str


@dataclass(frozen=True)
class DiscoverySettings:
    topics: Topics = field(default_factory=Topics)
    discovery: DiscoveryTopics = field(default_factory=DiscoveryTopics)
    sw_version: str | None = None
    support_url: str | None = None

    @classmethod
    def from_config(cls, config: Config) -> DiscoverySettings:
        version, url = _package_info()
        return cls(
            topics=Topics(config.topic_prefix),
            discovery=DiscoveryTopics(config.homeassistant_prefix),
            sw_version=version,
            support_url=url,
        )

    @property
    def slug(self) -> str:
        """Our topic prefix as a discovery id: two installations on one broker stay apart."""
        return re.sub(r"[^a-zA-Z0-9_-]", "_", self.topics.prefix)

    @property
    def origin(self) -> Payload:
        origin: Payload = {"name": MANUFACTURER}
        if self.sw_version:
            origin["sw_version"] = self.sw_version
        if self.support_url:
            origin["support_url"] = self.support_url
        return origin


def _package_info() -> tuple[str | None, str | None]:
    """Our version, and the first project URL in the package metadata (if it names one)."""
    try:
        meta = metadata.metadata("maelstrom")
    except metadata.PackageNotFoundError:
        return None, None
    urls = [u.split(",", 1)[-1].strip() for u in meta.get_all("Project-URL") or []]
    return meta.get("Version"), next((u for u in urls if u.startswith("http")), None)


# --- modes and actions, both ways ---------------------------------------------------------


def constant_mode(loop: Loop) -> str:
    """The Home Assistant mode that means "hold the setpoint" with this loop's actuators."""
    if loop.heater and loop.cooler:
        return "heat_cool"
    return "heat" if loop.heater else "cool"


def ha_modes(loop: Loop) -> list[str]:
    """What Home Assistant offers. `auto` follows the loop's profile."""
    return ["off", constant_mode(loop), "auto"]


def ha_mode_of(loop: Loop) -> dict[str, str]:
    """Our mode (LoopState.mode) → Home Assistant's. Manual output shows as the constant mode."""
    held = constant_mode(loop)
    return {
        LoopMode.off: "off",
        LoopMode.manual: held,
        LoopMode.constant: held,
        LoopMode.profile: "auto",
    }


HA_ACTION: dict[str, str] = {
    LoopActivity.heating: "heating",
    LoopActivity.cooling: "cooling",
    LoopActivity.idle: "idle",
    LoopActivity.waiting: "idle",  # wants to cool but the compressor timer holds it
    LoopActivity.off: "off",
    LoopActivity.fault: "off",  # outputs forced off
}
"""Our activity (LoopState.state) → Home Assistant's HVAC action."""

TEMPERATURE_UNITS = ("°C", "°F", "K")
"""Units Home Assistant's temperature device class accepts."""


# --- templates Home Assistant renders --------------------------------------------------------
# `value_json` is the payload parsed as JSON. A template that renders "None" sets the
# entity's state to unknown in Home Assistant (climate, sensor, action alike).


def _lookup(field: str, mapping: Mapping[str, str]) -> str:
    pairs = ", ".join(f"'{k}': '{v}'" for k, v in mapping.items())
    return "{{ {" + pairs + "}.get(value_json." + field + ", 'None') }}"


VALUE = "{{ value_json.value }}"
PV = "{{ value_json.pv }}"
SP = "{{ value_json.sp }}"
ALARM = "{{ 'ON' if value_json.alarms else 'OFF' }}"
ALARM_ATTRIBUTES = "{{ {'alarms': value_json.alarms} | tojson }}"
LOOP_ATTRIBUTES = (
    "{{ {'mode': value_json.mode, 'state': value_json.state,"
    " 'waiting_reason': value_json.waiting_reason} | tojson }}"
)
PROFILE_PROGRESS = (
    "{% set p = value_json.profile %}"
    "{% if p and (p.elapsed_s + p.remaining_s) > 0 %}"
    "{{ (100 * p.elapsed_s / (p.elapsed_s + p.remaining_s)) | round(1) }}"
    "{% else %}None{% endif %}"
)
PROFILE_REMAINING = (
    "{% set p = value_json.profile %}"
    "{% if p %}{{ (p.remaining_s / 3600) | round(2) }}{% else %}None{% endif %}"
)
PROFILE_ATTRIBUTES = "{{ (value_json.profile or {}) | tojson }}"
READING_AVAILABLE = "{{ 'online' if value_json.value is not none else 'offline' }}"


@dataclass(frozen=True)
class LoopSensor:
    """A read-only number a loop exposes besides its thermostat."""

    key: str
    name: str
    value_template: str
    unit: str
    icon: str
    precision: int
    device_class: str | None = None
    attributes_template: str | None = None
    needs: Literal["heater", "cooler"] | None = None


LOOP_SENSORS = (
    LoopSensor(
        "profile_progress",
        "Profile progress",
        PROFILE_PROGRESS,
        "%",
        "mdi:progress-clock",
        0,
        attributes_template=PROFILE_ATTRIBUTES,
    ),
    LoopSensor(
        "profile_remaining",
        "Profile time remaining",
        PROFILE_REMAINING,
        "h",
        "mdi:timer-sand",
        1,
        device_class="duration",
    ),
    LoopSensor(
        "heat_output",
        "Heating output",
        "{{ value_json.output.heat }}",
        "%",
        "mdi:fire",
        0,
        needs="heater",
    ),
    LoopSensor(
        "cool_output",
        "Cooling output",
        "{{ value_json.output.cool }}",
        "%",
        "mdi:snowflake",
        0,
        needs="cooler",
    ),
)

LOOP_ENTITY_KEYS: tuple[tuple[str, str], ...] = (
    ("climate", "climate"),
    ("binary_sensor", "alarm"),
    *(("sensor", s.key) for s in LOOP_SENSORS),
)
"""(component, key) of every entity a loop can have: what deleting a loop clears."""


# --- building blocks ----------------------------------------------------------------------------


def node_id(owner: Owner, settings: DiscoverySettings) -> str:
    return f"{settings.slug}_{owner.kind}_{owner.id}"


def device_identifier(owner: Owner, settings: DiscoverySettings) -> str:
    return f"maelstrom:{settings.slug}:{owner.kind}:{owner.id}"


def unique_id(owner: Owner, key: str, settings: DiscoverySettings) -> str:
    # ':' never occurs in an id, so no two (owner, key) pairs can share a unique_id.
    return f"{device_identifier(owner, settings)}:{key}"


def discovery_topic(owner: Owner, component: str, key: str, settings: DiscoverySettings) -> str:
    return settings.discovery.config(component, node_id(owner, settings), key)


def _entity(
    owner: Owner,
    component: str,
    key: str,
    name: str | None,
    device: Payload,
    settings: DiscoverySettings,
    fields: Payload,
    extra_availability: list[Payload] | None = None,
) -> Discovery:
    availability = [
        {
            "topic": settings.topics.status(CONTROLLER_SERVICE),
            "payload_available": "online",
            "payload_not_available": "offline",
        },
        *(extra_availability or []),
    ]
    payload: Payload = {
        "name": name,
        "unique_id": unique_id(owner, key, settings),
        "device": device,
        "origin": settings.origin,
        "availability": availability,
        "availability_mode": "all",
        "qos": 1,
        **fields,
    }
    return Discovery(discovery_topic(owner, component, key, settings), payload)


def _entity_name(name: str, device_name: str) -> str | None:
    """Home Assistant prefixes the device name itself; one that repeats it is stripped."""
    if name.casefold() == device_name.casefold():
        return None
    head = device_name.casefold() + " "
    return name[len(head) :] if name.casefold().startswith(head) else name


# --- loops ----------------------------------------------------------------------------------------


def loop_device(loop: Loop, settings: DiscoverySettings) -> Payload:
    return {
        "identifiers": [device_identifier(Owner("loop", loop.id), settings)],
        "name": loop.name or loop.id,
        "manufacturer": MANUFACTURER,
        "model": f"{loop.kind.value.capitalize()} loop",
    }


def loop_discovery(loop: Loop, settings: DiscoverySettings) -> list[Discovery]:
    """A thermostat, an alarm and a few read-only numbers for one control loop."""
    owner = Owner("loop", loop.id)
    topics = settings.topics
    state = topics.loop_state(loop.id)
    device = loop_device(loop, settings)
    climate = _entity(
        owner,
        "climate",
        "climate",
        None,  # the thermostat is the loop: it takes the device's name
        device,
        settings,
        {
            "current_temperature_topic": state,
            "current_temperature_template": PV,
            "temperature_state_topic": state,
            "temperature_state_template": SP,
            "temperature_command_topic": topics.loop_command(loop.id, "setpoint"),
            "mode_state_topic": state,
            "mode_state_template": _lookup("mode", ha_mode_of(loop)),
            "mode_command_topic": topics.loop_command(loop.id, "mode"),
            "modes": ha_modes(loop),
            "action_topic": state,
            "action_template": _lookup("state", HA_ACTION),
            "json_attributes_topic": state,
            "json_attributes_template": LOOP_ATTRIBUTES,
            "min_temp": loop.setpoint_min,
            "max_temp": loop.setpoint_max,
            "temp_step": 0.1,
            "precision": 0.1,
            "temperature_unit": "C",
        },
    )
    alarm = _entity(
        owner,
        "binary_sensor",
        "alarm",
        "Alarm",
        device,
        settings,
        {
            "state_topic": state,
            "value_template": ALARM,
            "device_class": "problem",
            "json_attributes_topic": state,
            "json_attributes_template": ALARM_ATTRIBUTES,
        },
    )
    messages = [climate, alarm]
    for spec in LOOP_SENSORS:
        if spec.needs == "heater" and loop.heater is None:
            continue
        if spec.needs == "cooler" and loop.cooler is None:
            continue
        fields: Payload = {
            "state_topic": state,
            "value_template": spec.value_template,
            "unit_of_measurement": spec.unit,
            "state_class": "measurement",
            "suggested_display_precision": spec.precision,
            "icon": spec.icon,
        }
        if spec.device_class:
            fields["device_class"] = spec.device_class
        if spec.attributes_template:
            fields["json_attributes_topic"] = state
            fields["json_attributes_template"] = spec.attributes_template
        messages.append(_entity(owner, "sensor", spec.key, spec.name, device, settings, fields))
    return messages


def loop_topics(loop_id: str, settings: DiscoverySettings) -> list[str]:
    """Every discovery topic a loop with this id could have, whatever its actuators."""
    owner = Owner("loop", loop_id)
    return [discovery_topic(owner, c, k, settings) for c, k in LOOP_ENTITY_KEYS]


# --- boards and their probes ---------------------------------------------------------------


def _board_model(device: Device) -> str:
    if device.kind == DeviceKind.mqtt and device.mqtt is not None:
        return {"generic": "MQTT device", "tasmota": "Tasmota", "ispindel": "iSpindel"}[
            device.mqtt.preset.value
        ]
    if device.kind == DeviceKind.simulated:
        return f"Simulated {device.simulation or 'board'}"
    return "Serial board"


def board_device(device: Device, settings: DiscoverySettings) -> Payload:
    return {
        "identifiers": [device_identifier(Owner("device", device.id), settings)],
        "name": device.name or device.id,
        "manufacturer": MANUFACTURER,
        "model": _board_model(device),
    }


def is_temperature(sensor: Sensor) -> bool:
    return sensor.unit in TEMPERATURE_UNITS and sensor.id != "gravity"


def _sensor_fields(sensor: Sensor, state_topic: str) -> Payload:
    fields: Payload = {
        "state_topic": state_topic,
        "value_template": VALUE,
        "state_class": "measurement",
    }
    if is_temperature(sensor):
        return fields | {
            "device_class": "temperature",
            "unit_of_measurement": sensor.unit,
            "suggested_display_precision": 1,
        }
    # A hydrometer's gravity (SG or °Plato) or any other number: no device class fits.
    if sensor.unit and sensor.unit not in TEMPERATURE_UNITS:
        fields["unit_of_measurement"] = sensor.unit
    if sensor.id == "gravity":
        fields |= {"icon": "mdi:beer", "suggested_display_precision": 3}
    return fields


def device_discovery(device: Device, settings: DiscoverySettings) -> list[Discovery]:
    """One sensor per probe on a board; it is unavailable while the probe reads nothing."""
    owner = Owner("device", device.id)
    block = board_device(device, settings)
    messages = []
    for sensor in device.sensors:
        reading = settings.topics.sensor_reading(device.id, sensor.id)
        messages.append(
            _entity(
                owner,
                "sensor",
                sensor.id,
                _entity_name(sensor.name or sensor.id, block["name"]),
                block,
                settings,
                _sensor_fields(sensor, reading),
                extra_availability=[{"topic": reading, "value_template": READING_AVAILABLE}],
            )
        )
    return messages
