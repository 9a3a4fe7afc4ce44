"""Logging: to stderr for the operator, and WARNING+ to `<prefix>/logs/<service>`.

The logs channel is how the web UI's Logs tab and a brewer's `mosquitto_sub`
learn that something went wrong (a malformed payload dropped, a sensor lost)
without reading a terminal.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from .mqtt import MqttClient

_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def log_record_payload(
    level: str, message: str, source: str, ts: float | None = None
) -> dict[str, object]:
    """The logs channel's JSON shape: `{"level", "message", "source", "ts"}`."""
    return {"level": level.lower(), "message": message, "source": source, "ts": ts or time.time()}


WINDOW_S = 10.0
"""A line repeated within this long is said once, then once more with its count."""
BURST = 20
"""Distinct lines one source may say per window; more are counted, not sent or stored."""
MAX_SOURCES = 1_000
"""Sources tracked at once; beyond, the rest share one budget (a flood of made-up names)."""
OTHERS = "(other sources)"


@dataclass(frozen=True)
class Line:
    """One log line on its way to the logs channel or the stored log."""

    source: str
    level: str
    message: str
    ts: float | None = None  # when it was said (None: now)


@dataclass
class _Held:
    start: float
    level: str
    message: str
    count: int = 0  # repeats since the first, not yet said


@dataclass
class _Budget:
    start: float
    used: int = 0
    dropped: int = 0


class LogThrottle:
    """Per source: at most `burst` distinct lines per `window_s`, repeats coalesced.

    The logs channel goes to every browser and into the stored log, and any
    malformed command makes a line: without a bound, whoever may publish can flood
    both. The first line of a kind passes at once; the same kind again within the
    window is counted and said once when the window ends ("… (repeated 57 times)");
    past the burst, lines are counted and the count said instead. Time is passed in
    (`now`, any monotonic seconds), so the behaviour is tested without waiting.
    """

    def __init__(
        self, window_s: float = WINDOW_S, burst: int = BURST, max_sources: int = MAX_SOURCES
    ) -> None:
        self.window_s = window_s
        self.burst = burst
        self.max_sources = max_sources
        self._held: dict[tuple[str, str], _Held] = {}
        self._budgets: dict[str, _Budget] = {}
        self._next_due: float | None = None

    @property
    def pending(self) -> bool:
        """Whether a summary is still to be said (call `flush` after the window)."""
        return bool(self._held or self._budgets)

    def offer(self, line: Line, key: str, now: float) -> list[Line]:
        """The lines to send now: `line` itself if it may pass, and summaries now due.

        `key` says which lines are "the same" (their text, for a log handler).
        """
        out = self.flush(now)
        source = line.source
        if source not in self._budgets and len(self._budgets) >= self.max_sources:
            source = OTHERS
        held = self._held.get((source, key))
        if held is not None:
            held.count += 1
            held.level, held.message = line.level, line.message
            return out
        budget = self._budgets.get(source)
        if budget is None:
            budget = self._budgets[source] = _Budget(now)
            self._due(now)
        if budget.used >= self.burst:
            budget.dropped += 1
            return out
        budget.used += 1
        self._held[(source, key)] = _Held(now, line.level, line.message)
        self._due(now)
        out.append(line)
        return out

    def flush(self, now: float) -> list[Line]:
        """Summaries of the windows that have ended by `now`."""
        if self._next_due is None or now < self._next_due:
            return []
        out: list[Line] = []
        self._next_due = None
        for (source, key), held in list(self._held.items()):
            if now - held.start >= self.window_s:
                del self._held[(source, key)]
                if held.count:
                    text = f"{held.message} (repeated {held.count} times)"
                    out.append(Line(source, held.level, text))
            else:
                self._due(held.start)
        for source, budget in list(self._budgets.items()):
            if now - budget.start >= self.window_s:
                del self._budgets[source]
                if budget.dropped:
                    text = (
                        f"{budget.dropped} more log lines from {source} dropped "
                        f"(more than {self.burst} different ones in {self.window_s:g} s)"
                    )
                    out.append(Line(source, "warning", text))
            else:
                self._due(budget.start)
        return out

    def _due(self, start: float) -> None:
        due = start + self.window_s
        if self._next_due is None or due < self._next_due:
            self._next_due = due


class MqttLogHandler(logging.Handler):
    """Publishes records to the logs channel, throttled; never raises, never recurses."""

    def __init__(
        self,
        client: MqttClient,
        source: str,
        level: int = logging.WARNING,
        *,
        throttle: LogThrottle | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(level)
        self._client = client
        self._topic = client.topics.logs(source)
        self._source = source
        self._local = threading.local()
        self._throttle = throttle or LogThrottle()
        self._clock = clock
        self._timer: threading.Timer | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(self._local, "busy", False) or record.name.startswith("paho"):
            return
        self._local.busy = True
        try:
            message = record.getMessage()
            if record.exc_info and record.exc_info[1] is not None:
                message = f"{message}: {record.exc_info[1]!r}"
            line = Line(self._source, record.levelname, message, record.created)
            self._send(self._throttle.offer(line, message, self._clock()))
            self._schedule()
        except Exception:
            self.handleError(record)
        finally:
            self._local.busy = False

    def flush(self) -> None:
        """Say the summaries that are due (the handler's lock held, as in `emit`)."""
        self.acquire()
        try:
            self._timer = None
            self._send(self._throttle.flush(self._clock()))
            self._schedule()
        except Exception:
            pass  # logging must never raise; the next record retries the summary
        finally:
            self.release()

    def close(self) -> None:
        self.acquire()
        try:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        finally:
            self.release()
        super().close()

    def _schedule(self) -> None:
        # Held repeats must be said even if nothing is logged after them.
        if self._timer is None and self._throttle.pending:
            self._timer = threading.Timer(self._throttle.window_s, self.flush)
            self._timer.daemon = True
            self._timer.start()

    def _send(self, lines: list[Line]) -> None:
        for line in lines:
            self._client.publish(
                self._topic,
                log_record_payload(line.level, line.message, self._source, line.ts),
                qos=0,
            )


def setup_logging(level: str = "INFO") -> None:
    """Plain stderr logging (the logger name says which part of which service spoke)."""
    logging.basicConfig(level=getattr(logging, level, logging.INFO), format=_FORMAT)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def attach_mqtt_logging(client: MqttClient, source: str) -> MqttLogHandler:
    handler = MqttLogHandler(client, source)
    logging.getLogger().addHandler(handler)
    return handler


def detach_mqtt_logging(handler: MqttLogHandler) -> None:
    logging.getLogger().removeHandler(handler)
    handler.close()
