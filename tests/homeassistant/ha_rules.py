"""Home Assistant's documented rules for MQTT discovery, as data, and a checker.

Sources: home-assistant.io/integrations/mqtt (discovery topic, device, origin,
availability), /integrations/climate.mqtt, /integrations/sensor.mqtt,
/integrations/binary_sensor.mqtt, /integrations/select.mqtt, /integrations/button.mqtt,
/integrations/number.mqtt, /docs/configuration/templating (timestamp_custom), and the
schemas in homeassistant/components/mqtt/{discovery,schemas,climate,sensor,
binary_sensor,select,button,number}.py.
`problems()` returns what Home Assistant would refuse or warn about; an empty
list means the message is one Home Assistant accepts as documented.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from jinja2.exceptions import TemplateSyntaxError
from jinja2.sandbox import ImmutableSandboxedEnvironment

DISCOVERY_TOPIC = re.compile(
    r"^(?P<component>\w+)/(?:(?P<node_id>[a-zA-Z0-9_-]+)/)?(?P<object_id>[a-zA-Z0-9_-]+)/config"
)
"""What follows `<discovery_prefix>/`: node and object ids only [a-zA-Z0-9_-]."""

SUPPORTED_COMPONENTS = {
    "alarm_control_panel", "binary_sensor", "button", "camera", "climate", "cover",
    "device_automation", "device_tracker", "event", "fan", "humidifier", "image",
    "lawn_mower", "light", "lock", "notify", "number", "scene", "select", "sensor",
    "siren", "switch", "tag", "text", "update", "vacuum", "valve", "water_heater",
}  # fmt: skip

# --- options every entity may carry -----------------------------------------------------------
COMMON_KEYS = {
    "availability", "availability_mode", "availability_template", "availability_topic",
    "device", "enabled_by_default", "encoding", "entity_category", "entity_picture", "icon",
    "json_attributes_template", "json_attributes_topic", "name", "origin",
    "payload_available", "payload_not_available", "platform", "qos", "unique_id",
}  # fmt: skip

COMPONENT_KEYS = {
    "climate": {
        "action_template", "action_topic", "current_humidity_template",
        "current_humidity_topic", "current_temperature_template", "current_temperature_topic",
        "fan_mode_command_template", "fan_mode_command_topic", "fan_mode_state_template",
        "fan_mode_state_topic", "fan_modes", "initial", "max_humidity", "max_temp",
        "min_humidity", "min_temp", "mode_command_template", "mode_command_topic",
        "mode_state_template", "mode_state_topic", "modes", "optimistic", "payload_off",
        "payload_on", "power_command_template", "power_command_topic", "precision",
        "preset_mode_command_template", "preset_mode_command_topic", "preset_mode_state_topic",
        "preset_mode_value_template", "preset_modes", "retain", "swing_mode_command_template",
        "swing_mode_command_topic", "swing_mode_state_template", "swing_mode_state_topic",
        "swing_modes", "target_humidity_command_template", "target_humidity_command_topic",
        "target_humidity_state_template", "target_humidity_state_topic",
        "temperature_command_template", "temperature_command_topic",
        "temperature_high_command_template", "temperature_high_command_topic",
        "temperature_high_state_template", "temperature_high_state_topic",
        "temperature_low_command_template", "temperature_low_command_topic",
        "temperature_low_state_template", "temperature_low_state_topic",
        "temperature_state_template", "temperature_state_topic", "temperature_unit",
        "temp_step", "value_template",
    },
    "sensor": {
        "device_class", "expire_after", "force_update", "last_reset_value_template",
        "options", "state_class", "state_topic", "suggested_display_precision",
        "unit_of_measurement", "value_template",
    },
    "binary_sensor": {
        "device_class", "expire_after", "force_update", "off_delay", "payload_off",
        "payload_on", "state_topic", "value_template",
    },
    "select": {
        "command_template", "command_topic", "optimistic", "options", "retain",
        "state_topic", "value_template",
    },
    "button": {"command_template", "command_topic", "device_class", "payload_press", "retain"},
    "number": {
        "command_template", "command_topic", "device_class", "max", "min", "mode",
        "optimistic", "payload_reset", "retain", "state_topic", "step",
        "unit_of_measurement", "value_template",
    },
}  # fmt: skip

REQUIRED_KEYS = {
    # Home Assistant's own: a read-only entity needs its state topic.
    "sensor": {"state_topic"},
    "binary_sensor": {"state_topic"},
    # Nothing is required by Home Assistant for climate; a thermostat that reads and
    # sets its temperature and mode needs these.
    "climate": {
        "current_temperature_topic", "temperature_state_topic", "temperature_command_topic",
        "mode_state_topic", "mode_command_topic", "modes", "action_topic",
        "min_temp", "max_temp", "temp_step", "precision", "temperature_unit",
    },
    "select": {"command_topic", "options"},
    "button": {"command_topic"},
    "number": {"command_topic"},
}  # fmt: skip
DISCOVERY_REQUIRED_KEYS = {"unique_id", "device", "origin"}
"""A device is only registered for an entity with a unique_id; origin names who published it."""

FORBIDDEN_KEYS = {
    "object_id": "deprecated since Home Assistant 2025.10, removed in 2026.4",
    "obj_id": "abbreviation of the deprecated object_id",
}

DEVICE_KEYS = {
    "configuration_url", "connections", "hw_version", "identifiers", "manufacturer", "model",
    "model_id", "name", "serial_number", "suggested_area", "sw_version", "via_device",
}  # fmt: skip
ORIGIN_KEYS = {"name", "sw_version", "support_url"}
AVAILABILITY_KEYS = {"topic", "payload_available", "payload_not_available", "value_template"}
AVAILABILITY_MODES = {"all", "any", "latest"}
QOS = {0, 1, 2}

# --- climate --------------------------------------------------------------------------------------
HVAC_MODES = {"off", "heat", "cool", "heat_cool", "auto", "dry", "fan_only"}
HVAC_ACTIONS = {"off", "preheating", "heating", "cooling", "drying", "idle", "fan", "defrosting"}
PRECISIONS = {0.1, 0.5, 1.0}
TEMPERATURE_UNITS = {"C", "F"}

# --- sensors ----------------------------------------------------------------------------------------
DEGREE_CELSIUS = "\u00b0C"  # DEGREE SIGN + C; not º (masculine ordinal) or ℃ (U+2103)
SENSOR_UNITS = {
    "temperature": {DEGREE_CELSIUS, "\u00b0F", "K"},
    "duration": {"d", "h", "min", "s", "ms", "\u00b5s"},
}
NON_NUMERIC_SENSOR_DEVICE_CLASSES = {"date", "enum", "timestamp"}
"""No unit, no state class, no display precision: the state is text (ISO 8601 for timestamp)."""
SENSOR_DEVICE_CLASSES = set(SENSOR_UNITS) | NON_NUMERIC_SENSOR_DEVICE_CLASSES
ENTITY_CATEGORIES = {"config", "diagnostic"}
READ_ONLY_COMPONENTS = {"sensor", "binary_sensor"}
"""Home Assistant refuses `entity_category: config` on these (nothing to configure)."""
BUTTON_DEVICE_CLASSES = {"identify", "restart", "update"}
NUMBER_MODES = {"auto", "box", "slider"}
NUMBER_MIN_STEP = 0.001
STATE_CLASSES = {"measurement", "measurement_angle", "total", "total_increasing"}
BINARY_SENSOR_DEVICE_CLASSES = {
    "battery", "battery_charging", "carbon_monoxide", "cold", "connectivity", "door",
    "garage_door", "gas", "heat", "light", "lock", "moisture", "motion", "moving",
    "occupancy", "opening", "plug", "power", "presence", "problem", "running", "safety",
    "smoke", "sound", "tamper", "update", "vibration", "window",
}  # fmt: skip

TEMPLATES = ImmutableSandboxedEnvironment()
"""Home Assistant renders templates in Jinja's immutable sandbox."""


def _timestamp_custom(
    value: Any, format_string: str = "%Y-%m-%d %H:%M:%S", local: bool = True
) -> Any:
    """Home Assistant's `timestamp_custom` filter (UTC when `local` is false); a value that is
    not a number comes back unchanged, as in Home Assistant."""
    try:
        moment = datetime.fromtimestamp(float(value), tz=None if local else UTC)
    except (TypeError, ValueError):
        return value
    return moment.strftime(format_string)


TEMPLATES.filters["timestamp_custom"] = _timestamp_custom


def render(template: str, payload: Any) -> str:
    """What Home Assistant makes of `payload` (a dict, sent as JSON) with this template."""
    raw = payload if isinstance(payload, str) else json.dumps(payload)
    return TEMPLATES.from_string(template).render(value=raw, value_json=json.loads(raw)).strip()


def _topic_problems(key: str, value: Any) -> list[str]:
    if not isinstance(value, str) or not value:
        return [f"{key} must be a non-empty topic"]
    if any(c in value for c in "+#\0") or value.startswith("/") or value.endswith("/"):
        return [f"{key} {value!r} is not a valid topic here"]
    return []


def problems(topic: str, payload: dict[str, Any], prefix: str = "homeassistant") -> list[str]:
    """Everything in one discovery message that breaks Home Assistant's documented rules."""
    found: list[str] = []
    if not topic.startswith(prefix + "/"):
        return [f"{topic} is not under the discovery prefix {prefix!r}"]
    match = DISCOVERY_TOPIC.fullmatch(topic[len(prefix) + 1 :])
    if not match:
        return [f"{topic} is not <prefix>/<component>/[<node_id>/]<object_id>/config"]
    component = match["component"]
    if component not in SUPPORTED_COMPONENTS:
        return [f"{component} is not an MQTT discovery component"]
    if component not in COMPONENT_KEYS:
        return [f"no rules written for {component}"]

    keys = set(payload)
    for key in sorted(keys & set(FORBIDDEN_KEYS)):
        found.append(f"{key}: {FORBIDDEN_KEYS[key]}")
    unknown = keys - COMMON_KEYS - COMPONENT_KEYS[component] - set(FORBIDDEN_KEYS)
    found += [f"{key} is not a documented {component} option" for key in sorted(unknown)]
    missing = (REQUIRED_KEYS[component] | DISCOVERY_REQUIRED_KEYS) - keys
    found += [f"{key} is required" for key in sorted(missing)]

    for key, value in payload.items():
        if key.endswith("_topic"):
            found += _topic_problems(key, value)
        if key.endswith("_template"):
            try:
                TEMPLATES.parse(value)
            except TemplateSyntaxError as exc:
                found.append(f"{key} is not a valid template: {exc}")
    if "name" in payload and payload["name"] is not None and not isinstance(payload["name"], str):
        found.append("name must be a string or null")
    if payload.get("name", "") is None and not (payload.get("device") or {}).get("name"):
        found.append("name null takes the device's name, but the device has none")
    if not isinstance(payload.get("unique_id", ""), str) or payload.get("unique_id") == "":
        found.append("unique_id must be a non-empty string")
    if payload.get("qos", 0) not in QOS:
        found.append(f"qos {payload['qos']!r} is not 0, 1 or 2")
    category = payload.get("entity_category")
    if category is not None and category not in ENTITY_CATEGORIES:
        found.append(f"entity_category {category!r} is not config or diagnostic")
    if category == "config" and component in READ_ONLY_COMPONENTS:
        found.append(f"entity_category config is not allowed for a {component}")
    found += _device_problems(payload.get("device"))
    found += _origin_problems(payload.get("origin"))
    found += _availability_problems(payload)
    found += {
        "climate": _climate_problems,
        "sensor": _sensor_problems,
        "binary_sensor": _binary_sensor_problems,
        "select": _select_problems,
        "button": _button_problems,
        "number": _number_problems,
    }[component](payload)
    return found


def _device_problems(device: Any) -> list[str]:
    if device is None:
        return []
    if not isinstance(device, dict):
        return ["device must be a mapping"]
    found = [f"device.{k} is not a device option" for k in sorted(set(device) - DEVICE_KEYS)]
    if not device.get("identifiers") and not device.get("connections"):
        found.append("device needs identifiers or connections")
    ids = device.get("identifiers", [])
    if not isinstance(ids, (str, list)) or (isinstance(ids, list) and not all(ids)):
        found.append("device.identifiers must be a string or a list of strings")
    return found


def _origin_problems(origin: Any) -> list[str]:
    if origin is None:
        return []
    if not isinstance(origin, dict) or not origin.get("name"):
        return ["origin needs a name"]
    found = [f"origin.{k} is not an origin option" for k in sorted(set(origin) - ORIGIN_KEYS)]
    url = origin.get("support_url")
    if url is not None and not re.match(r"^https?://", url):
        found.append("origin.support_url must be an http(s) URL")
    return found


def _availability_problems(payload: dict[str, Any]) -> list[str]:
    found = []
    entries = payload.get("availability")
    if entries is not None:
        if "availability_topic" in payload:
            found.append("availability and availability_topic are exclusive")
        if not isinstance(entries, list) or not entries:
            return [*found, "availability must be a non-empty list"]
        for entry in entries:
            found += [f"availability.{k} is not an option" for k in set(entry) - AVAILABILITY_KEYS]
            found += _topic_problems("availability.topic", entry.get("topic"))
    mode = payload.get("availability_mode", "latest")
    if mode not in AVAILABILITY_MODES:
        found.append(f"availability_mode {mode!r} is not one of {sorted(AVAILABILITY_MODES)}")
    return found


def _climate_problems(payload: dict[str, Any]) -> list[str]:
    found = []
    modes = payload.get("modes", [])
    if not isinstance(modes, list) or not modes:
        found.append("modes must be a non-empty list")
    else:
        found += [f"mode {m!r} is not an HVAC mode" for m in modes if m not in HVAC_MODES]
        if len(set(modes)) != len(modes):
            found.append("modes repeat")
    if "precision" in payload and payload["precision"] not in PRECISIONS:
        found.append(f"precision {payload['precision']!r} is not one of 0.1, 0.5, 1.0")
    if payload.get("temperature_unit", "C") not in TEMPERATURE_UNITS:
        found.append(f"temperature_unit {payload['temperature_unit']!r} is not C or F")
    step = payload.get("temp_step", 1.0)
    if not isinstance(step, (int, float)) or step <= 0:
        found.append("temp_step must be a positive number")
    low, high = payload.get("min_temp"), payload.get("max_temp")
    if isinstance(low, (int, float)) and isinstance(high, (int, float)) and low >= high:
        found.append("min_temp must be below max_temp")
    return found


def _sensor_problems(payload: dict[str, Any]) -> list[str]:
    found = []
    device_class = payload.get("device_class")
    unit = payload.get("unit_of_measurement")
    if device_class in NON_NUMERIC_SENSOR_DEVICE_CLASSES:
        for key in ("unit_of_measurement", "state_class", "suggested_display_precision"):
            if key in payload:
                found.append(
                    f"{key} makes no sense for the non-numeric device_class {device_class}"
                )
    elif device_class is not None:
        if device_class not in SENSOR_DEVICE_CLASSES:
            found.append(f"sensor device_class {device_class!r} has no rules written here")
        elif unit not in SENSOR_UNITS[device_class]:
            found.append(f"unit {unit!r} is not valid for device_class {device_class}")
    if unit is not None and ("\u00ba" in unit or "\u2103" in unit):
        found.append(f"unit {unit!r} uses a look-alike of the degree sign")
    if payload.get("state_class") not in (None, *STATE_CLASSES):
        found.append(f"state_class {payload['state_class']!r} is not a state class")
    precision = payload.get("suggested_display_precision")
    if precision is not None and (not isinstance(precision, int) or precision < 0):
        found.append("suggested_display_precision must be a non-negative integer")
    return found


def _binary_sensor_problems(payload: dict[str, Any]) -> list[str]:
    device_class = payload.get("device_class")
    if device_class is not None and device_class not in BINARY_SENSOR_DEVICE_CLASSES:
        return [f"binary_sensor device_class {device_class!r} is not a device class"]
    return []


def _select_problems(payload: dict[str, Any]) -> list[str]:
    options = payload.get("options")
    if not isinstance(options, list) or not options:
        return ["options must be a non-empty list"]
    found = []
    if not all(isinstance(o, str) and o for o in options):
        found.append("options must be non-empty strings")
    if len(set(options)) != len(options):
        found.append("options repeat")
    return found


def _button_problems(payload: dict[str, Any]) -> list[str]:
    device_class = payload.get("device_class")
    if device_class is not None and device_class not in BUTTON_DEVICE_CLASSES:
        return [f"button device_class {device_class!r} is not identify, restart or update"]
    return []


def _number_problems(payload: dict[str, Any]) -> list[str]:
    found = []
    low, high = payload.get("min", 1), payload.get("max", 100)
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (low, high)):
        return ["min and max must be numbers"]
    if low >= high:
        found.append("min must be below max")  # Home Assistant: "max must be > min"
    step = payload.get("step", 1)
    if not isinstance(step, (int, float)) or step < NUMBER_MIN_STEP:
        found.append(f"step must be a number of at least {NUMBER_MIN_STEP}")
    if payload.get("mode", "auto") not in NUMBER_MODES:
        found.append(f"mode {payload['mode']!r} is not auto, box or slider")
    return found
