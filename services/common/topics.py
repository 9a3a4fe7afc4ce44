"""Every MQTT topic Maelstrom uses is built here, and nowhere else.

The contract (docs/topics.md) fixes the first level under the prefix: `data`,
`logs`, `alarms`, `cmd`, `config`, `status`; the second wave adds `target` (each
loop's target, published by its controller) and `replies` (answers to commands). Keeping the strings in one place
means a prefix change or a new channel is one edit, and code reads in brewing
terms (`topics.loop_state("fermenter")`) instead of string formatting.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from paho.mqtt.client import topic_matches_sub

CHANNELS = ("data", "logs", "alarms", "cmd", "config", "status")
"""First-level channels under the prefix. `POST /api/publish/{channel}` accepts these."""

CONFIG_KINDS = ("settings", "devices", "profiles", "loops")
LOOP_COMMANDS = ("setpoint", "mode", "profile", "output", "target", "ack", "autotune")
"""`target` sets the whole target at once (a restore); `ack` acknowledges the loop's
alarms; `autotune` starts or aborts a tuning run; the others change one part."""


class TopicError(ValueError):
    """A topic or topic segment that cannot be used."""


def check_segment(segment: str, what: str = "topic segment") -> str:
    """Reject ids that would break the topic tree (wildcards, slashes, empty, refused text)."""
    if not segment or any(c in segment for c in "/+#\0"):
        raise TopicError(f"{what} {segment!r} may not be empty or contain / + # or NUL")
    _check_text(segment, what)
    return segment


def matches(topic_filter: str, topic: str) -> bool:
    """MQTT filter matching, the broker's rules (`$` topics excluded from leading wildcards)."""
    return topic_matches_sub(topic_filter, topic)


MAX_TOPIC_BYTES = 65535
"""MQTT's limit on a topic name or filter, in UTF-8 bytes."""


_REFUSED = re.compile("[\x00-\x1f\x7f-\x9f\ufdd0-\ufdef\ufffe\uffff]")
"""Code points Mosquitto refuses in a topic (`mosquitto_validate_utf8`): C0 and C1 controls,
DEL and the Unicode non-characters. A client that sends one is disconnected, so a shared
client must never forward one on somebody's behalf."""


def _check_text(text: str, what: str) -> None:
    """Valid UTF-8, none of the code points the broker refuses, at most 65535 bytes."""
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise TopicError(f"{what} is not valid UTF-8 text") from None
    if size > MAX_TOPIC_BYTES:
        raise TopicError(f"{what} is longer than {MAX_TOPIC_BYTES} bytes")
    bad = _REFUSED.search(text) or _non_character(text)
    if bad:
        char = bad if isinstance(bad, str) else bad.group()
        raise TopicError(
            f"{what} may not contain U+{ord(char):04X} (control characters and "
            "non-characters are refused by the broker)"
        )


def _non_character(text: str) -> str | None:
    """The first U+xFFFE / U+xFFFF of a supplementary plane (the BMP ones are in `_REFUSED`)."""
    for char in text:
        if ord(char) > 0xFFFF and ord(char) & 0xFFFE == 0xFFFE:
            return char
    return None


def check_topic(topic: str) -> str:
    """A topic one may publish to, as MQTT and Mosquitto require it.

    Not empty, no wildcards (they are for filters), valid UTF-8 without NUL,
    control characters or non-characters, at most 65535 bytes.
    """
    if not topic:
        raise TopicError("topic may not be empty")
    if any(c in topic for c in "+#\0"):
        raise TopicError(f"topic {topic!r} may not contain + # or NUL (wildcards are for filters)")
    _check_text(topic, "topic")
    return topic


def check_filter(topic_filter: str) -> str:
    """A subscription filter as MQTT allows it: `+` and `#` fill a whole level, `#` only last."""
    if not topic_filter:
        raise TopicError("topic filter may not be empty")
    _check_text(topic_filter, "topic filter")
    levels = topic_filter.split("/")
    for i, level in enumerate(levels):
        if "#" in level and (level != "#" or i != len(levels) - 1):
            raise TopicError(
                f"topic filter {topic_filter!r}: # must be a whole level, and the last one"
            )
        if "+" in level and level != "+":
            raise TopicError(f"topic filter {topic_filter!r}: + must be a whole level")
    return topic_filter


class TopicFilter:
    """A checked filter, parsed once, that matches topics as Mosquitto does.

    `+` matches one whole level (including an empty one), `#` the rest of the
    topic including its parent (`a/#` matches `a`), and neither matches a
    topic starting with `$` at the first level (`#` does not match `$SYS/…`).
    """

    __slots__ = ("_levels", "_plain", "filter")

    def __init__(self, topic_filter: str) -> None:
        self.filter = check_filter(topic_filter)
        self._plain = "+" not in topic_filter and "#" not in topic_filter
        self._levels = topic_filter.split("/")

    def matches(self, topic: str) -> bool:
        if self._plain:
            return topic == self.filter
        levels = self._levels
        if topic.startswith("$") and levels[0] in ("+", "#"):
            return False
        parts = topic.split("/")
        for i, level in enumerate(levels):
            if level == "#":
                return True
            if i >= len(parts) or (level != "+" and level != parts[i]):
                return False
        return len(parts) == len(levels)

    def __repr__(self) -> str:
        return f"TopicFilter({self.filter!r})"


@dataclass(frozen=True)
class Topics:
    """Topic names under one prefix (`MAELSTROM_TOPIC_PREFIX`, default `maelstrom`)."""

    prefix: str = "maelstrom"

    def _t(self, *parts: str) -> str:
        return "/".join((self.prefix, *parts))

    # channels ---------------------------------------------------------------
    def channel(self, channel: str, subtopic: str = "") -> str:
        """A topic on a named channel, e.g. `channel("alarms", "test")`."""
        if channel not in CHANNELS:
            raise TopicError(f"unknown channel {channel!r}; expected one of {', '.join(CHANNELS)}")
        subtopic = subtopic.strip("/")
        return check_topic(self._t(channel, subtopic) if subtopic else self._t(channel))

    def channel_filter(self, channel: str) -> str:
        return self._t(channel, "#")

    # data -------------------------------------------------------------------
    def loop_state(self, loop_id: str) -> str:
        return self._t("data", check_segment(loop_id, "loop id"))

    def sensor_reading(self, device_id: str, sensor_id: str) -> str:
        return self._t(
            "data",
            "sensors",
            check_segment(device_id, "device id"),
            check_segment(sensor_id, "sensor id"),
        )

    @property
    def all_data(self) -> str:
        return self._t("data", "#")

    @property
    def all_loop_states(self) -> str:
        return self._t("data", "+")

    @property
    def all_sensor_readings(self) -> str:
        return self._t("data", "sensors", "+", "+")

    # program events (docs/programs.md): not a contract channel, beside them ------
    def loop_events(self, loop_id: str) -> str:
        """`<prefix>/events/<loop>`: a step started, a target reached, a wait began."""
        return self._t("events", check_segment(loop_id, "loop id"))

    @property
    def all_loop_events(self) -> str:
        return self._t("events", "+")

    # logs -------------------------------------------------------------------
    def logs(self, source: str) -> str:
        return self._t("logs", check_segment(source, "log source"))

    @property
    def all_logs(self) -> str:
        return self._t("logs", "#")

    # alarms -----------------------------------------------------------------
    def alarm(self, alarm_id: str) -> str:
        return self._t("alarms", check_segment(alarm_id, "alarm id"))

    def alarm_ack(self, alarm_id: str) -> str:
        return self._t("alarms", check_segment(alarm_id, "alarm id"), "ack")

    @property
    def all_alarms(self) -> str:
        return self._t("alarms", "+")

    @property
    def all_alarm_acks(self) -> str:
        return self._t("alarms", "+", "ack")

    # commands ---------------------------------------------------------------
    def loop_command(self, loop_id: str, command: str) -> str:
        if command not in LOOP_COMMANDS:
            raise TopicError(f"unknown loop command {command!r}")
        return self._t("cmd", "loops", check_segment(loop_id, "loop id"), command)

    @property
    def all_loop_commands(self) -> str:
        return self._t("cmd", "loops", "+", "+")

    @property
    def all_commands(self) -> str:
        return self._t("cmd", "#")

    def device_simulate(self, device_id: str) -> str:
        """Fault injection for a simulated board (docs/control.md)."""
        return self._t("cmd", "devices", check_segment(device_id, "device id"), "simulate")

    @property
    def all_device_simulate(self) -> str:
        return self._t("cmd", "devices", "+", "simulate")

    # targets: what each loop is told to do (the controller owns them) -----------
    def loop_target(self, loop_id: str) -> str:
        return self._t("target", check_segment(loop_id, "loop id"))

    @property
    def all_loop_targets(self) -> str:
        return self._t("target", "+")

    def replies(self, client: str) -> str:
        """Where a client asks the controller to answer its commands (MQTT 5 response topic)."""
        return self._t("replies", check_segment(client, "client id"))

    # configuration ----------------------------------------------------------
    def config(self, kind: str, object_id: str) -> str:
        if kind not in CONFIG_KINDS:
            raise TopicError(f"unknown config kind {kind!r}")
        return self._t("config", kind, check_segment(str(object_id), f"{kind} id"))

    @property
    def config_index(self) -> str:
        """Every configured id and version, sent (not retained) after a full publish."""
        return self._t("config", "index")

    def all_config(self, kind: str | None = None) -> str:
        return self._t("config", kind, "+") if kind else self._t("config", "#")

    # device leases (docs/safety.md): which controller instance drives a device ----
    def lease(self, device_id: str) -> str:
        return self._t("lease", check_segment(device_id, "device id"))

    @property
    def all_leases(self) -> str:
        return self._t("lease", "+")

    # service status ---------------------------------------------------------
    def status(self, service: str) -> str:
        return self._t("status", check_segment(service, "service name"))

    @property
    def all_status(self) -> str:
        return self._t("status", "+")

    def device_status(self, device_id: str) -> str:
        """A board's link as its controller sees it (retained): online, firmware."""
        return self._t("status", "devices", check_segment(device_id, "device id"))

    @property
    def all_device_status(self) -> str:
        return self._t("status", "devices", "+")

    # parsing ----------------------------------------------------------------
    def parts(self, topic: str) -> list[str]:
        """The levels of a topic below the prefix; [] when it is not ours."""
        head = self.prefix + "/"
        return topic[len(head) :].split("/") if topic.startswith(head) else []


DISCOVERY_ID = re.compile(r"[a-zA-Z0-9_-]+")
"""Home Assistant's rule for the node and object ids in a discovery topic (use `fullmatch`)."""


@dataclass(frozen=True)
class DiscoveryTopics:
    """Home Assistant's MQTT discovery topics, under its own prefix (`MAELSTROM_HA_PREFIX`).

    They live outside our prefix: Home Assistant listens on
    `<ha_prefix>/<component>/[<node_id>/]<object_id>/config` and announces itself
    with `online` / `offline` on `<ha_prefix>/status`.
    """

    prefix: str = "homeassistant"

    def config(self, component: str, node_id: str, object_id: str) -> str:
        for what, value in (
            ("component", component),
            ("node id", node_id),
            ("object id", object_id),
        ):
            if not DISCOVERY_ID.fullmatch(value):
                raise TopicError(f"discovery {what} {value!r} may only hold [a-zA-Z0-9_-]")
        return f"{self.prefix}/{component}/{node_id}/{object_id}/config"

    @property
    def status(self) -> str:
        return f"{self.prefix}/status"


class NativeTopics:
    """Topics of devices that speak MQTT themselves, outside our prefix (their conventions)."""

    @staticmethod
    def tasmota_sensor(name: str) -> str:
        return f"tele/{check_segment(name, 'Tasmota topic')}/SENSOR"

    @staticmethod
    def tasmota_command(name: str, command: str) -> str:
        """`cmnd/<topic>/<Command>`, e.g. `PulseTime1`, `PowerOnState`."""
        return f"cmnd/{check_segment(name, 'Tasmota topic')}/{check_segment(command, 'command')}"

    @staticmethod
    def tasmota_result(name: str) -> str:
        """`stat/<topic>/RESULT`: Tasmota's answer to every command."""
        return f"stat/{check_segment(name, 'Tasmota topic')}/RESULT"

    @staticmethod
    def tasmota_lwt(name: str) -> str:
        return f"tele/{check_segment(name, 'Tasmota topic')}/LWT"

    @staticmethod
    def tasmota_power_command(name: str, channel: int | None) -> str:
        return f"cmnd/{check_segment(name, 'Tasmota topic')}/POWER{channel or ''}"

    @staticmethod
    def tasmota_power_state(name: str, channel: int | None) -> str:
        return f"stat/{check_segment(name, 'Tasmota topic')}/POWER{channel or ''}"

    @staticmethod
    def ispindel(name: str, field: str) -> str:
        return f"ispindel/{check_segment(name, 'iSpindel name')}/{check_segment(field, 'field')}"
