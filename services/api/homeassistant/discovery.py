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

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Literal, NamedTuple

from services.common.config import Config
from services.common.schema.config import Device, DeviceKind, Loop, LoopMode, Profile, Sensor
from services.common.schema.state import LoopActivity
from services.common.topics import DiscoveryTopics, Topics

Payload = dict[str, Any]
OwnerKind = Literal["loop", "device", "system", "alarm"]

MANUFACTURER = "Maelstrom"
CONTROLLER_SERVICE = "controller"
"""The service whose `online` / `offline` on `<prefix>/status/<service>` is every entity's availability."""
API_SERVICE = "api"
SYSTEM = "system"
"""The id of the one "Maelstrom" device: the controller and the API, and alarms about neither
a loop nor a board."""
DEFAULT_AREA = "Brewery"


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
    public_url: str | None = None
    """The web UI: each device's `configuration_url`."""
    area: str | None = DEFAULT_AREA
    """Where Home Assistant puts new devices (`suggested_area`); the user may move them."""

    @classmethod
    def from_config(cls, config: Config) -> DiscoverySettings:
        version, url = _package_info()
        return cls(
            topics=Topics(config.topic_prefix),
            discovery=DiscoveryTopics(config.homeassistant_prefix),
            sw_version=version,
            support_url=url,
            public_url=f"{config.public_url.rstrip('/')}/" if config.public_url else None,
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
#
# Home Assistant writes a database row whenever an entity's state or attributes change,
# whatever the message rate: so no template renders anything that moves every second
# (raw elapsed times, countdowns, timestamps of the message). Values are rounded to
# what a brewer reads.


def _lookup(field: str, mapping: Mapping[str, str]) -> str:
    pairs = ", ".join(f"'{k}': '{v}'" for k, v in mapping.items())
    return "{{ {" + pairs + "}.get(value_json." + field + ", 'None') }}"


def _iso(expr: str) -> str:
    """A unix time as the ISO 8601 text a timestamp sensor needs (Home Assistant's filter)."""
    return f"({expr}) | timestamp_custom('%Y-%m-%dT%H:%M:%S+00:00', false)"


VALUE = "{{ value_json.value }}"
PV = (
    "{% set pv = value_json.get('pv_display') %}"
    "{% if pv is none %}{% set pv = value_json.pv %}{% endif %}"
    "{{ pv | round(1) if pv is not none else None }}"
)
"""`pv_display`: the reading held until it really moves, so a flickering last digit does
not write a row a second (an older controller's state has only `pv`)."""
TARGET_SETPOINT = "{{ value_json.setpoint }}"
"""From the target: the setpoint a loop holds in constant mode, shown in every mode."""
ALARM = "{{ 'ON' if value_json.alarm_details or value_json.alarms else 'OFF' }}"
ALARM_ATTRIBUTES = (
    "{{ {'alarms': value_json.alarm_details | default([]), 'active': value_json.alarms} | tojson }}"
)
LOOP_ATTRIBUTES = (
    "{{ {'mode': value_json.mode, 'state': value_json.state,"
    " 'waiting_reason': value_json.waiting_reason,"
    " 'waiting_until': value_json.waiting_until} | tojson }}"
)
PROFILE_PROGRESS = (
    "{% set p = value_json.profile %}"
    "{% if p and (p.elapsed_s + p.remaining_s) > 0 %}"
    "{{ (100 * p.elapsed_s / (p.elapsed_s + p.remaining_s)) | round(0) }}"
    "{% else %}None{% endif %}"
)
PROFILE_REMAINING = (
    "{% set p = value_json.profile %}"
    "{% if p %}{{ (p.remaining_s / 3600) | round(1) }}{% else %}None{% endif %}"
)
PROFILE_ENDS = (
    "{% set p = value_json.profile %}"
    "{% if p and p.ends_at %}{{ " + _iso("p.ends_at") + " }}{% else %}None{% endif %}"
)
STEP_ENDS = (
    "{% set p = value_json.profile %}"
    "{% if p and p.next_at and not p.paused %}{{ " + _iso("p.next_at | round(0)") + " }}"
    "{% else %}None{% endif %}"
)
"""When the run reaches its next point: unknown while paused and after the last one."""
PROFILE_STEP = (
    "{% set p = value_json.profile %}"
    "{% if p %}{{ p.step + 1 }} of {{ p.steps }}{% else %}None{% endif %}"
)
PROFILE_ATTRIBUTES = (
    "{% set p = value_json.profile %}"
    "{% if p %}{{ {'profile': p.profile, 'name': p.name, 'step': p.step, 'steps': p.steps,"
    " 'next_setpoint': p.next_setpoint, 'next_at': p.next_at, 'ends_at': p.ends_at,"
    " 'paused': p.paused, 'finished': p.finished} | tojson }}{% else %}{}{% endif %}"
)
"""Not elapsed_s / remaining_s: they change every second."""
LAST_ERROR = (
    "{% set e = value_json.last_error %}{{ (e.command ~ ': ' ~ e.message)[:255] if e else 'none' }}"
)
LAST_ERROR_ATTRIBUTES = "{{ (value_json.last_error or {}) | tojson }}"
READING_AVAILABLE = "{{ 'online' if value_json.value is not none else 'offline' }}"


def _relay(role: str) -> str:
    return (
        f"{{% set r = (value_json.relays or {{}}).get('{role}') %}}"
        "{{ 'None' if r is none else ('ON' if r else 'OFF') }}"
    )


@dataclass(frozen=True)
class LoopSensor:
    """A read-only value a loop exposes besides its thermostat."""

    key: str
    name: str
    value_template: str
    icon: str
    unit: str | None = None
    precision: int | None = None
    device_class: str | None = None
    attributes_template: str | None = None
    needs: Literal["heater", "cooler"] | None = None
    diagnostic: bool = False

    @property
    def numeric(self) -> bool:
        return self.unit is not None


LOOP_SENSORS = (
    LoopSensor(
        "profile_progress",
        "Profile progress",
        PROFILE_PROGRESS,
        "mdi:progress-clock",
        "%",
        0,
        attributes_template=PROFILE_ATTRIBUTES,
    ),
    LoopSensor(
        "profile_remaining",
        "Profile time remaining",
        PROFILE_REMAINING,
        "mdi:timer-sand",
        "h",
        1,
        device_class="duration",
    ),
    LoopSensor(
        "profile_ends",
        "Profile ends at",
        PROFILE_ENDS,
        "mdi:flag-checkered",
        device_class="timestamp",
    ),
    LoopSensor("profile_step", "Current step", PROFILE_STEP, "mdi:stairs"),
    LoopSensor(
        "step_ends", "Step ends at", STEP_ENDS, "mdi:timer-outline", device_class="timestamp"
    ),
    LoopSensor(
        "last_error",
        "Last refused command",
        LAST_ERROR,
        "mdi:alert-circle-outline",
        attributes_template=LAST_ERROR_ATTRIBUTES,
    ),
    LoopSensor(
        "heat_output",
        "Heating demand",
        "{{ value_json.output.heat | round(0) }}",
        "mdi:fire",
        "%",
        0,
        needs="heater",
        diagnostic=True,
    ),
    LoopSensor(
        "cool_output",
        "Cooling demand",
        "{{ value_json.output.cool | round(0) }}",
        "mdi:snowflake",
        "%",
        0,
        needs="cooler",
        diagnostic=True,
    ),
)


@dataclass(frozen=True)
class LoopButton:
    """A button: one fixed payload on one of the loop's command topics."""

    key: str
    name: str
    command: str
    payload: str
    icon: str


LOOP_BUTTONS = (
    LoopButton("profile_start", "Start profile", "profile", "start", "mdi:play"),
    LoopButton("profile_pause", "Pause profile", "profile", "pause", "mdi:pause"),
    LoopButton("profile_resume", "Resume profile", "profile", "resume", "mdi:play-pause"),
    LoopButton("profile_stop", "Stop profile", "profile", "stop", "mdi:stop"),
    # A step that waits for the brewer (a program's step) goes on when confirmed.
    LoopButton(
        "confirm_step", "Confirm step", "profile", '{"action": "confirm"}', "mdi:check-circle"
    ),
    LoopButton("manual_mode", "Manual mode", "mode", "manual", "mdi:hand-back-right"),
    LoopButton("ack", "Acknowledge alarms", "ack", "PRESS", "mdi:bell-check"),
)

RELAYS = (("heater", "Heater relay", "mdi:radiator"), ("cooler", "Cooler relay", "mdi:fridge"))

NO_PROFILE = "none"
"""The profile select's option for "no profile": choosing it stops the run."""

LOOP_ENTITY_KEYS: tuple[tuple[str, str], ...] = (
    ("climate", "climate"),
    ("binary_sensor", "alarm"),
    *(("binary_sensor", f"{role}_relay") for role, _, _ in RELAYS),
    *(("sensor", s.key) for s in LOOP_SENSORS),
    *(("button", b.key) for b in LOOP_BUTTONS),
    ("select", "profile"),
    ("number", "manual_output"),
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
    *,
    diagnostic: bool = False,
    always_available: bool = False,
) -> Discovery:
    payload: Payload = {
        "name": name,
        "unique_id": unique_id(owner, key, settings),
        "device": device,
        "origin": settings.origin,
        "qos": 1,
    }
    if not always_available:
        # A connectivity sensor is the one thing that must stay readable when a service dies.
        payload["availability"] = [
            {
                "topic": settings.topics.status(CONTROLLER_SERVICE),
                "payload_available": "online",
                "payload_not_available": "offline",
            },
            *(extra_availability or []),
        ]
        payload["availability_mode"] = "all"
    if diagnostic:
        payload["entity_category"] = "diagnostic"
    payload.update(fields)
    return Discovery(discovery_topic(owner, component, key, settings), payload)


def _entity_name(name: str, device_name: str) -> str | None:
    """Home Assistant prefixes the device name itself; one that repeats it is stripped."""
    if name.casefold() == device_name.casefold():
        return None
    head = device_name.casefold() + " "
    return name[len(head) :] if name.casefold().startswith(head) else name


def _device_extras(settings: DiscoverySettings, via: Owner | None, *, ours: bool = True) -> Payload:
    """`ours`: the device runs our software (a board runs its own firmware)."""
    extras: Payload = {}
    if ours and settings.sw_version:
        extras["sw_version"] = settings.sw_version
    if settings.public_url:
        extras["configuration_url"] = settings.public_url
    if via is not None:
        extras["via_device"] = device_identifier(via, settings)
    if settings.area:
        extras["suggested_area"] = settings.area
    return extras


# --- the system: controller and API ----------------------------------------------------------


def system_device(settings: DiscoverySettings) -> Payload:
    return {
        "identifiers": [device_identifier(Owner("system", SYSTEM), settings)],
        "name": MANUFACTURER,
        "manufacturer": MANUFACTURER,
        "model": "Controller and API",
        **_device_extras(settings, None),
    }


SYSTEM_ENTITY_KEYS = (
    ("binary_sensor", "controller_online"),
    ("binary_sensor", "api_online"),
)


def system_discovery(settings: DiscoverySettings) -> list[Discovery]:
    """Whether the controller and the API are up (their retained status and will)."""
    owner = Owner("system", SYSTEM)
    device = system_device(settings)
    return [
        _entity(
            owner,
            "binary_sensor",
            f"{service}_online",
            f"{title} connected",
            device,
            settings,
            {
                "state_topic": settings.topics.status(service),
                "payload_on": "online",
                "payload_off": "offline",
                "device_class": "connectivity",
            },
            diagnostic=True,
            always_available=True,
        )
        for service, title in ((CONTROLLER_SERVICE, "Controller"), (API_SERVICE, "API"))
    ]


# --- loops ----------------------------------------------------------------------------------------


def loop_device(loop: Loop, settings: DiscoverySettings) -> Payload:
    return {
        "identifiers": [device_identifier(Owner("loop", loop.id), settings)],
        "name": loop.name or loop.id,
        "manufacturer": MANUFACTURER,
        "model": f"{loop.kind.value.capitalize()} loop",
        # The loop reaches us through its sensor's board, which the controller drives.
        **_device_extras(settings, Owner("device", loop.sensor.device)),
    }


def profile_options(profiles: Mapping[str, Profile]) -> dict[str, str]:
    """Option shown → profile id: the name when it is unique (and not "none"), else the id."""
    names = [p.name for p in profiles.values() if p.name]
    labels: dict[str, str] = {}
    for profile in sorted(profiles.values(), key=lambda p: (p.name or p.id).casefold()):
        label = profile.name
        if not label or names.count(label) > 1 or label.casefold() == NO_PROFILE:
            label = profile.id
        if label in labels:
            label = f"{label} ({profile.id})"
        labels[label] = profile.id
    return labels


def _profile_select_templates(options: Mapping[str, str]) -> tuple[str, str]:
    """(value_template on the target, command_template): option ↔ profile run."""
    by_id = json.dumps({pid: label for label, pid in options.items()})
    by_label = json.dumps(dict(options))
    value = (
        f"{{% set labels = {by_id} %}}"
        "{% set p = value_json.profile %}"
        f"{{{{ labels[p.profile] if p and p.profile in labels else '{NO_PROFILE}' }}}}"
    )
    command = (
        f"{{% set ids = {by_label} %}}"
        f"{{% if value == '{NO_PROFILE}' %}}stop"
        "{% else %}{{ {'action': 'start', 'profile': ids[value]} | tojson }}{% endif %}"
    )
    return value, command


def loop_discovery(
    loop: Loop, settings: DiscoverySettings, profiles: Mapping[str, Profile] | None = None
) -> list[Discovery]:
    """A thermostat, its profile controls, alarms, relays and read-only values for one loop."""
    owner = Owner("loop", loop.id)
    topics = settings.topics
    state = topics.loop_state(loop.id)
    target = topics.loop_target(loop.id)
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
            # The target's setpoint, not the state's `sp` (null while off or manual): the
            # card shows what the loop will hold in every mode.
            "temperature_state_topic": target,
            "temperature_state_template": TARGET_SETPOINT,
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
    for role, name, icon in RELAYS:
        if getattr(loop, role) is None:
            continue
        messages.append(
            _entity(
                owner,
                "binary_sensor",
                f"{role}_relay",
                name,
                device,
                settings,
                {
                    "state_topic": state,
                    "value_template": _relay(role),
                    "device_class": "running",
                    "icon": icon,
                },
            )
        )
    for spec in LOOP_SENSORS:
        if spec.needs == "heater" and loop.heater is None:
            continue
        if spec.needs == "cooler" and loop.cooler is None:
            continue
        fields: Payload = {
            "state_topic": state,
            "value_template": spec.value_template,
            "icon": spec.icon,
        }
        if spec.numeric:
            fields |= {
                "unit_of_measurement": spec.unit,
                "state_class": "measurement",
                "suggested_display_precision": spec.precision,
            }
        if spec.device_class:
            fields["device_class"] = spec.device_class
        if spec.attributes_template:
            fields["json_attributes_topic"] = state
            fields["json_attributes_template"] = spec.attributes_template
        messages.append(
            _entity(
                owner, "sensor", spec.key, spec.name, device, settings, fields,
                diagnostic=spec.diagnostic,
            )
        )  # fmt: skip
    for button in LOOP_BUTTONS:
        messages.append(
            _entity(
                owner,
                "button",
                button.key,
                button.name,
                device,
                settings,
                {
                    "command_topic": topics.loop_command(loop.id, button.command),
                    "payload_press": button.payload,
                    "icon": button.icon,
                },
            )
        )
    options = profile_options(profiles or {})
    value_template, command_template = _profile_select_templates(options)
    messages.append(
        _entity(
            owner,
            "select",
            "profile",
            "Profile",
            device,
            settings,
            {
                "state_topic": target,
                "value_template": value_template,
                "command_topic": topics.loop_command(loop.id, "profile"),
                "command_template": command_template,
                "options": [NO_PROFILE, *options],
                "icon": "mdi:chart-bell-curve-cumulative",
            },
        )
    )
    messages.append(
        _entity(
            owner,
            "number",
            "manual_output",
            "Manual output",
            device,
            settings,
            {
                "state_topic": target,
                "value_template": "{{ value_json.manual_output }}",
                "command_topic": topics.loop_command(loop.id, "output"),
                # + heats, − cools: only the side the loop can drive.
                "min": -100 if loop.cooler else 0,
                "max": 100 if loop.heater else 0,
                "step": 1,
                "mode": "slider",
                "unit_of_measurement": "%",
                "icon": "mdi:tune-vertical",
            },
        )
    )
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


def board_device(
    device: Device, settings: DiscoverySettings, firmware: str | None = None
) -> Payload:
    block: Payload = {
        "identifiers": [device_identifier(Owner("device", device.id), settings)],
        "name": device.name or device.id,
        "manufacturer": MANUFACTURER,
        "model": _board_model(device),
        # Not our version: the board runs its own firmware (known once it said hello).
        **_device_extras(settings, Owner("system", SYSTEM), ours=False),
    }
    if firmware:
        block["sw_version"] = firmware
    return block


LINK_KEY, FIRMWARE_KEY = "_connected", "_firmware"
"""A probe's id starts with a letter or digit: these can never be one."""


def has_link_status(device: Device) -> bool:
    """Boards on a serial line (real or simulated) report their link and firmware."""
    return device.kind in (DeviceKind.serial, DeviceKind.simulated)


DIAGNOSTIC_SENSORS = {"battery", "rssi", "signal", "angle", "tilt", "firmware"}
"""Readings of a device's own health, not of the brew (an iSpindel's battery, RSSI)."""


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


def device_discovery(
    device: Device, settings: DiscoverySettings, firmware: str | None = None
) -> list[Discovery]:
    """One sensor per probe on a board; it is unavailable while the probe reads nothing.
    A serial board also shows whether it is connected, and its firmware."""
    owner = Owner("device", device.id)
    block = board_device(device, settings, firmware)
    messages = []
    if has_link_status(device):
        status = settings.topics.device_status(device.id)
        messages.append(
            _entity(
                owner,
                "binary_sensor",
                LINK_KEY,
                "Connected",
                block,
                settings,
                {
                    "state_topic": status,
                    "value_template": "{{ 'ON' if value_json.online else 'OFF' }}",
                    "device_class": "connectivity",
                    "json_attributes_topic": status,
                    "json_attributes_template": "{{ {'reason': value_json.reason} | tojson }}",
                },
                diagnostic=True,
            )
        )
        messages.append(
            _entity(
                owner,
                "sensor",
                FIRMWARE_KEY,
                "Firmware",
                block,
                settings,
                {
                    "state_topic": status,
                    "value_template": "{{ value_json.firmware or None }}",
                    "icon": "mdi:chip",
                },
                diagnostic=True,
            )
        )
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
                diagnostic=sensor.id.casefold() in DIAGNOSTIC_SENSORS,
            )
        )
    return messages


# --- alarms about no loop: a board's, an input's, anyone's --------------------------------------

ALARM_PROBLEM = (
    "{{ 'ON' if value_json.state == 'active' or not value_json.acknowledged else 'OFF' }}"
)
"""On while active, and after it cleared until someone acknowledged it."""
ALARM_RECORD_ATTRIBUTES = (
    "{% set a = value_json %}"
    "{{ {'message': a.get('message'), 'severity': a.get('severity'), 'state': a.get('state'),"
    " 'source': a.get('source'), 'raised_at': a.get('raised_at'),"
    " 'acknowledged': a.get('acknowledged', false),"
    " 'acknowledged_by': a.get('acknowledged_by')} | tojson }}"
)
ALARM_ENTITY_KEYS = (("binary_sensor", "problem"), ("button", "ack"))


def alarm_discovery(
    alarm_id: str, device: Device | None, settings: DiscoverySettings
) -> list[Discovery]:
    """A problem sensor and an acknowledge button for one alarm that belongs to no loop,
    on its board's device (`device`) or the system's. They live as long as the alarm's
    retained record: removed once it is cleared and acknowledged."""
    owner = Owner("alarm", alarm_id)
    block = board_device(device, settings) if device is not None else system_device(settings)
    topic = settings.topics.alarm(alarm_id)
    problem = _entity(
        owner,
        "binary_sensor",
        "problem",
        f"Alarm {alarm_id}",
        block,
        settings,
        {
            "state_topic": topic,
            "value_template": ALARM_PROBLEM,
            "device_class": "problem",
            "json_attributes_topic": topic,
            "json_attributes_template": ALARM_RECORD_ATTRIBUTES,
        },
    )
    ack = _entity(
        owner,
        "button",
        "ack",
        f"Acknowledge {alarm_id}",
        block,
        settings,
        {
            "command_topic": settings.topics.alarm_ack(alarm_id),
            "payload_press": json.dumps({"by": "homeassistant"}),
            "icon": "mdi:bell-check",
        },
    )
    return [problem, ack]
