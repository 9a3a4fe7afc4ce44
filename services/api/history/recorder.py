"""The recorder: MQTT in, one database transaction per batch window out.

Handlers run in the event loop and only validate and append; every database
call runs on the writer's own thread, so the event loop (which also serves the
browser bridge) never waits on SQLite.

What a crash can lose: what arrived since the last committed batch, i.e. at most
the batch window (1 s) plus the duration of a write in progress. A clean
shutdown (SIGTERM, Ctrl-C) writes everything, including values held back by the
dead band. While the API is down the broker queues every message for the
recorder's persistent session (QoS 1) and delivers them when it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import peewee
from pydantic import BaseModel, ValidationError

from services.common.clock import Clock
from services.common.logs import Line, LogThrottle
from services.common.mqtt import Message, MqttClient, PayloadError
from services.common.problems import first_problem
from services.common.schema.alarms import Alarm
from services.common.schema.logs import LogLevel, LogRecord
from services.common.schema.state import (
    LoopState,
    ProfileProgress,
    ProgramEvent,
    SensorReading,
)
from services.common.topics import Topics, matches

from .query import add_annotation
from .settings import KEY as SETTINGS_KEY
from .settings import HistorySettings, parse_settings
from .writer import AlarmIn, Batch, EventIn, HistoryWriter, LogIn, SampleIn

log = logging.getLogger(__name__)

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

BATCH_S = 1.0
FLUSH_EARLY = 50_000
"""Write at once when this many items are waiting (a burst), not at the window's end."""
MAX_PENDING = 2_000_000
"""While the database refuses writes, keep at most this many items (oldest dropped)."""
ROLLUP_EVERY_S = 60.0
RETENTION_EVERY_S = 3600.0
RETENTION_SETTLE_S = 30.0
"""Wait this long after subscribing to settings before deleting anything by age."""
MAINTENANCE_STEP_S = 0.2
"""Tier maintenance works in steps this long between batches, so writes stay on time."""


def loop_series(loop: str, quantity: str) -> str:
    """`loop/<loop>/<pv|sp|heat|cool>`."""
    return f"loop/{loop}/{quantity}"


def sensor_series(device: str, sensor: str) -> str:
    """`sensor/<device>/<sensor>`; an iSpindel's gravity is `sensor/<device>/gravity`."""
    return f"sensor/{device}/{sensor}"


def step_value(progress: ProfileProgress | None) -> str | None:
    """A `step` event's value: the running step's number as the dashboard shows it
    (1-based), then a program step's name: `"2"`, `"2 Saccharification"`; null when no
    profile runs. Stored when it changes, so the chart can mark step changes of any
    past range (docs/history.md)."""
    if progress is None:
        return None
    number = str(progress.step + 1)
    return f"{number} {progress.step_name}"[:100] if progress.step_name else number


EARLIEST_TS = 946_684_800.0  # 2000-01-01
FUTURE_S = 366 * 86_400.0
"""How far ahead of the recorder's clock a timestamp may be (a clock set wrong, not a bug)."""


def _check_time(ts: float | None, message: Message, now: float) -> None:
    """A time history can store and chart: finite, after 2000, not a year ahead.

    An infinite or absurd `ts` cannot become integer milliseconds; kept in a batch
    it would fail every write after it, so it is refused here, at the edge.
    """
    if ts is not None and not (EARLIEST_TS <= ts <= now + FUTURE_S):
        raise PayloadError(f"time {ts!r} on {message.topic} is not a plausible Unix time")


def _parse(model: type[M], message: Message, data: Any = None) -> M:
    try:
        if data is not None:
            return model.model_validate(data)
        return model.model_validate_json(message.payload)
    except ValidationError as exc:
        raise PayloadError(first_problem(exc)) from None


class Recorder:
    """Subscribes to data, alarms, logs and history settings; batches them to the writer."""

    def __init__(
        self,
        mqtt: MqttClient,
        db: peewee.Database,
        clock: Clock,
        batch_s: float = BATCH_S,
    ) -> None:
        self._mqtt = mqtt
        self._topics: Topics = mqtt.topics
        self._clock = clock
        self.batch_s = batch_s
        self.settings = HistorySettings()
        self.writer = HistoryWriter(db, lambda: self.settings)
        self._batch = Batch()
        # Whoever may publish on logs/… could otherwise fill the disk: per source, a
        # burst of distinct lines per window, repeats stored once with their count.
        self._log_throttle = LogThrottle()
        self._full = asyncio.Event()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="history-writer")
        self._task: asyncio.Task[None] | None = None
        self._handlers: dict[str, Callable[[Message], None]] = {
            self._topics.all_data: self._on_data,
            self._topics.all_alarms: self._on_alarm,
            self._topics.all_logs: self._on_log,
            self._topics.all_config("settings"): self._on_setting,
            self._topics.all_loop_events: self._on_program_event,
        }
        self._annotating: set[asyncio.Future[Any]] = set()
        self._settings_since: float | None = None
        self._data_prefix = self._topics.channel("data") + "/"
        self._loop_names: dict[str, tuple[str, ...]] = {}
        self.received = 0  # items (samples, events, alarms, logs) since start
        self._flushed_at = 0  # `received` when the batch was last taken
        self.failures = 0
        self.dropped = 0
        self.last_write: float | None = None

    # lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        await self.in_writer(self.writer.prepare)
        for topic_filter, handler in self._handlers.items():
            # QoS 1: on the recorder's persistent session the broker queues what is
            # published while the API is away or reconnecting (docs/history.md).
            self._mqtt.subscribe(topic_filter, handler, qos=1)
        self._task = asyncio.create_task(self._run(), name="history-recorder")

    async def stop(self) -> None:
        """Stop listening, then write everything still in memory.

        On a persistent session the subscriptions stay with the broker (it queues
        for the next start); the client is stopped before this."""
        if not self._mqtt.persistent:
            for topic_filter, handler in self._handlers.items():
                self._mqtt.unsubscribe(topic_filter, handler)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush(final=True)
        await self.in_writer(self.writer.close)
        self._executor.shutdown(wait=True)

    async def in_writer(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn` on the writer's thread."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    @property
    def subscribed(self) -> bool:
        return all(self._mqtt.is_subscribed(f) for f in self._handlers)

    @property
    def pending(self) -> int:
        return len(self._batch)

    def receive(self, message: Message) -> None:
        """Take one message as the MQTT client would deliver it (tests, benchmarks)."""
        if message.topic.startswith(self._data_prefix):
            self._on_data(message)  # the bulk: skip matching every filter
            return
        for topic_filter, handler in self._handlers.items():
            if matches(topic_filter, message.topic):
                handler(message)

    # the batch loop ----------------------------------------------------------------------
    async def _run(self) -> None:
        next_rollup = next_retention = 0.0
        while True:
            await self._pause()
            await self.flush()
            now = self._clock.now()
            if now >= next_rollup:
                more = await self._maintain(self.writer.roll_up, round(now * 1000))
                next_rollup = now if more else now + ROLLUP_EVERY_S
            if now >= next_retention and self._may_delete(now):
                more = await self._maintain(self.writer.apply_retention, now)
                next_retention = now if more else now + RETENTION_EVERY_S

    async def _pause(self) -> None:
        sleeper = asyncio.ensure_future(self._clock.sleep(self.batch_s))
        burst = asyncio.ensure_future(self._full.wait())
        try:
            await asyncio.wait({sleeper, burst}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            burst.cancel()
        self._full.clear()

    async def flush(self, final: bool = False) -> None:
        """Write what has arrived, in one transaction; on failure keep it for the next try."""
        self._store_logs(self._log_throttle.flush(self._clock.now()))
        batch, self._batch = self._batch, Batch()
        self._flushed_at = self.received
        if not batch and not final:
            return
        try:
            await self.in_writer(self.writer.write, batch, final)
        except (ValueError, OverflowError, TypeError) as exc:
            # Not the database: something in the batch cannot be stored, and would fail
            # every retry (and every batch after it). Drop it rather than stop recording.
            self.dropped += len(batch)
            log.error("history: dropped %d items that cannot be stored: %s", len(batch), exc)
            return
        except Exception as exc:
            self._batch.prepend(batch)
            self._trim()
            self.failures += 1
            if self.failures == 1 or self.failures % 60 == 0:
                log.warning(
                    "history: cannot write to the database (%s); keeping %d items to retry",
                    exc,
                    len(self._batch),
                )
            return
        if self.failures:
            log.warning("history: database writes resumed after %d failed tries", self.failures)
            self.failures = 0
        self.last_write = self._clock.now()

    async def _maintain(self, step: Callable[[Any, float], bool], now: Any) -> bool:
        try:
            return await self.in_writer(step, now, MAINTENANCE_STEP_S)
        except Exception:
            log.exception("history: tier maintenance failed; will retry")
            return False

    def _may_delete(self, now: float) -> bool:
        """Only once the retention settings (retained on the broker) have had time to arrive."""
        settings_filter = self._topics.all_config("settings")
        if not self._mqtt.is_subscribed(settings_filter):
            self._settings_since = None
            return False
        if self._settings_since is None:
            self._settings_since = now
        return now - self._settings_since >= RETENTION_SETTLE_S

    def _add(self, items: list[Any], item: Any) -> None:
        items.append(item)
        self._count(1)

    def _count(self, items: int) -> None:
        self.received += items
        if self.received - self._flushed_at >= FLUSH_EARLY:
            self._full.set()

    def _trim(self) -> None:
        excess = len(self._batch.samples) - MAX_PENDING
        if excess > 0:
            del self._batch.samples[:excess]
            self.dropped += excess
            log.warning("history: database unavailable; dropped the %d oldest samples", excess)

    # handlers (event loop; validate and append, nothing else) -----------------------------
    def _on_data(self, message: Message) -> None:
        parts = self._topics.parts(message.topic)
        if not message.payload:
            return  # a retained topic cleared (loop or sensor removed)
        if len(parts) == 2:
            state = _parse(LoopState, message)
            _check_time(state.ts, message, self._clock.now())
            self._record_loop(parts[1], state)
        elif len(parts) == 4 and parts[1] == "sensors":
            reading = _parse(SensorReading, message)
            _check_time(reading.ts, message, self._clock.now())
            self._add(
                self._batch.samples,
                SampleIn(
                    sensor_series(parts[2], parts[3]),
                    "sensor",
                    reading.unit,
                    reading.ts,
                    reading.value,
                ),
            )

    def _record_loop(self, loop: str, state: LoopState) -> None:
        ts, samples, events = state.ts, self._batch.samples, self._batch.events
        names = self._loop_names.get(loop)
        if names is None:
            names = self._loop_names[loop] = tuple(
                loop_series(loop, q) for q in ("pv", "sp", "heat", "cool")
            )
        samples += (
            SampleIn(names[0], "loop", "°C", ts, state.pv),
            SampleIn(names[1], "loop", "°C", ts, state.sp),
            SampleIn(names[2], "loop", "%", ts, state.output.heat),
            SampleIn(names[3], "loop", "%", ts, state.output.cool),
        )
        running = state.profile if state.profile and not state.profile.finished else None
        events += (
            EventIn(loop, "mode", state.mode.value, ts),
            EventIn(loop, "state", state.state.value, ts),
            EventIn(loop, "profile", running.profile if running else None, ts),
            EventIn(loop, "step", step_value(running), ts),
        )
        self._count(8)

    def _on_alarm(self, message: Message) -> None:
        parts = self._topics.parts(message.topic)
        if len(parts) != 2:
            return
        alarm_id, now = parts[1], self._clock.now()
        if not message.payload.strip():
            self._add(self._batch.alarms, AlarmIn(alarm_id, None, now))
            return
        data = message.json()
        if not isinstance(data, dict):
            raise PayloadError("an alarm is a JSON object")
        alarm = _parse(Alarm, message, {**data, "id": alarm_id})
        if not alarm.raised_at:
            # A client's raw raise or clear: the controller, which owns every alarm's
            # lifecycle, re-publishes it as a full record, and that is what history keeps.
            return
        for ts in (alarm.raised_at, alarm.cleared_at, alarm.acknowledged_at, alarm.ts or None):
            _check_time(ts, message, now)
        self._add(self._batch.alarms, AlarmIn(alarm_id, alarm, now))

    def _on_log(self, message: Message) -> None:
        parts = self._topics.parts(message.topic)
        record = _parse(LogRecord, message)
        _check_time(record.ts or None, message, self._clock.now())
        line = Line(
            record.source or "/".join(parts[1:]),
            record.level,
            record.message,
            record.ts or self._clock.now(),
        )
        self._store_logs(self._log_throttle.offer(line, line.message, self._clock.now()))

    def _store_logs(self, lines: list[Line]) -> None:
        for line in lines:
            self._add(
                self._batch.logs,
                LogIn(
                    ts=line.ts or self._clock.now(),
                    level=int(LogLevel.parse(line.level)),
                    source=line.source,
                    message=line.message,
                ),
            )

    def _on_program_event(self, message: Message) -> None:
        """A step profile moved on or waits (docs/programs.md): a note on the chart."""
        event = _parse(ProgramEvent, message)
        future = asyncio.ensure_future(
            self.in_writer(
                add_annotation, event.ts, event.text[:500], event.loop, self._clock.now()
            )
        )
        self._annotating.add(future)
        future.add_done_callback(self._annotated)

    def _annotated(self, future: asyncio.Future[Any]) -> None:
        self._annotating.discard(future)
        if not future.cancelled() and future.exception() is not None:
            log.warning("history: program event not written: %s", future.exception())

    def _on_setting(self, message: Message) -> None:
        if self._topics.parts(message.topic)[-1] != SETTINGS_KEY:
            return
        try:
            self.settings = parse_settings(message.payload)
        except ValueError as exc:
            log.warning("history: %s; keeping %s", exc, self.settings.model_dump())

    # status --------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        return {
            "subscribed": self.subscribed,
            "received": self.received,
            "pending": self.pending,
            "stored": self.writer.stored,
            "batch_s": self.batch_s,
            "last_write": self.last_write,
            "write_failures": self.failures,
            "dropped": self.dropped,
            "settings": self.settings.model_dump(),
        }
