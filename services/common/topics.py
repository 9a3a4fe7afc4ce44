"""Every MQTT topic Maelstrom uses is built here, and nowhere else.

The contract (docs/topics.md) fixes the first level under the prefix: `data`,
`logs`, `alarms`, `cmd`, `config`, `status`. Keeping the strings in one place
means a prefix change or a new channel is one edit, and code reads in brewing
terms (`topics.loop_state("fermenter")`) instead of string formatting.
"""

from __future__ import annotations

from dataclasses import dataclass

from paho.mqtt.client import topic_matches_sub

CHANNELS = ("data", "logs", "alarms", "cmd", "config", "status")
"""First-level channels under the prefix. `POST /api/publish/{channel}` accepts these."""

CONFIG_KINDS = ("settings", "devices", "profiles", "loops")
LOOP_COMMANDS = ("setpoint", "mode", "profile", "output")


class TopicError(ValueError):
    """A topic or topic segment that cannot be used."""


def check_segment(segment: str, what: str = "topic segment") -> str:
    """Reject ids that would break the topic tree (wildcards, slashes, empty)."""
    if not segment or any(c in segment for c in "/+#\0"):
        raise TopicError(f"{what} {segment!r} may not be empty or contain / + # or NUL")
    return segment


def matches(topic_filter: str, topic: str) -> bool:
    """MQTT filter matching, the broker's rules (`$` topics excluded from leading wildcards)."""
    return topic_matches_sub(topic_filter, topic)


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
        if any(c in subtopic for c in "+#\0"):
            raise TopicError(f"subtopic {subtopic!r} may not contain + # or NUL")
        return self._t(channel, subtopic) if subtopic else self._t(channel)

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

    # configuration ----------------------------------------------------------
    def config(self, kind: str, object_id: str) -> str:
        if kind not in CONFIG_KINDS:
            raise TopicError(f"unknown config kind {kind!r}")
        return self._t("config", kind, check_segment(str(object_id), f"{kind} id"))

    def all_config(self, kind: str | None = None) -> str:
        return self._t("config", kind, "+") if kind else self._t("config", "#")

    # service status ---------------------------------------------------------
    def status(self, service: str) -> str:
        return self._t("status", check_segment(service, "service name"))

    @property
    def all_status(self) -> str:
        return self._t("status", "+")

    # parsing ----------------------------------------------------------------
    def parts(self, topic: str) -> list[str]:
        """The levels of a topic below the prefix; [] when it is not ours."""
        head = self.prefix + "/"
        return topic[len(head) :].split("/") if topic.startswith(head) else []


class NativeTopics:
    """Topics of devices that speak MQTT themselves, outside our prefix (their conventions)."""

    @staticmethod
    def tasmota_sensor(name: str) -> str:
        return f"tele/{check_segment(name, 'Tasmota topic')}/SENSOR"

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
