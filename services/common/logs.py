"""Logging: to stderr for the operator, and WARNING+ to `<prefix>/logs/<service>`.

The logs channel is how the web UI's Logs tab and a brewer's `mosquitto_sub`
learn that something went wrong (a malformed payload dropped, a sensor lost)
without reading a terminal.
"""

from __future__ import annotations

import logging
import threading
import time

from .mqtt import MqttClient

_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def log_record_payload(
    level: str, message: str, source: str, ts: float | None = None
) -> dict[str, object]:
    """The logs channel's JSON shape: `{"level", "message", "source", "ts"}`."""
    return {"level": level.lower(), "message": message, "source": source, "ts": ts or time.time()}


class MqttLogHandler(logging.Handler):
    """Publishes records to the logs channel; never raises, never recurses."""

    def __init__(self, client: MqttClient, source: str, level: int = logging.WARNING) -> None:
        super().__init__(level)
        self._client = client
        self._topic = client.topics.logs(source)
        self._source = source
        self._local = threading.local()

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(self._local, "busy", False) or record.name.startswith("paho"):
            return
        self._local.busy = True
        try:
            message = record.getMessage()
            if record.exc_info and record.exc_info[1] is not None:
                message = f"{message}: {record.exc_info[1]!r}"
            self._client.publish(
                self._topic,
                log_record_payload(record.levelname, message, self._source, record.created),
                qos=0,
            )
        except Exception:
            self.handleError(record)
        finally:
            self._local.busy = False


def setup_logging(level: str = "INFO") -> None:
    """Plain stderr logging (honcho prefixes each line with the service name)."""
    logging.basicConfig(level=getattr(logging, level, logging.INFO), format=_FORMAT)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def attach_mqtt_logging(client: MqttClient, source: str) -> MqttLogHandler:
    handler = MqttLogHandler(client, source)
    logging.getLogger().addHandler(handler)
    return handler


def detach_mqtt_logging(handler: MqttLogHandler) -> None:
    logging.getLogger().removeHandler(handler)
