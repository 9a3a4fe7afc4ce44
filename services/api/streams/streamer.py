"""Streams: a loop's readings to Brewfather, Brewer's Friend or a webhook, stored and forwarded.

Each stream ticks once per interval on the injected clock. At a tick it takes a
reading (a snapshot of the loop and its sensors) into the `stream_post` table
when nothing is waiting, or when the last post failed (the service is down:
keep recording); then it posts the oldest waiting reading — one post per
interval, never more, which is all these services accept (they drop the rest).
After an outage the stored readings go out oldest first, one per interval, and
fresh readings resume once they are through. The table survives a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import aiohttp

from services.api.live import Live
from services.api.models import StreamPostRow, StreamRow
from services.api.streams.schema import Stream, StreamKind, StreamOut, StreamStatus
from services.common.clock import Clock
from services.common.schema.config import IoRef

log = logging.getLogger(__name__)

POST_TIMEOUT_S = 20.0
REPORT_SOURCE = "Maelstrom"
VALUE_FIELDS = ("temp", "aux_temp", "ext_temp", "gravity", "battery")
"""A post needs at least one of these (Brewfather: "at least one value field")."""
HEAT_STATE = {"heating": "heating", "cooling": "cooling"}  # everything else is "off"


def mask_url(url: str) -> str:
    """Keys in the path or query (a Brewfather logging id, a Brewer's Friend API key) shortened."""
    parts = urlsplit(url)

    def hide(text: str) -> str:
        return text if len(text) < 6 else f"{text[:2]}****"

    path = "/".join(hide(seg) if len(seg) >= 8 else seg for seg in parts.path.split("/"))
    pairs = [(k, hide(v)) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    query = urlencode(pairs, safe="*")
    netloc = parts.netloc.rsplit("@", 1)[-1]
    if "@" in parts.netloc:
        netloc = "****@" + netloc
    return urlunsplit((parts.scheme, netloc, path, query, ""))


def _reading(live: Live, ref: IoRef | None) -> float | None:
    if ref is None:
        return None
    data = live.sensors.get((ref.device, ref.id))
    value = (data or {}).get("value")
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def snapshot(stream: Stream, live: Live, loop_name: str, now: float) -> dict[str, Any]:
    """The values a stream can send, by our field names (None: not known now)."""
    state = live.loops.get(stream.loop) or {}
    pv = state.get("pv")
    temp = _reading(live, stream.temp) if stream.temp else pv
    return {
        "name": stream.name or loop_name or stream.loop,
        "loop": stream.loop,
        "temp": temp,
        "aux_temp": _reading(live, stream.aux_temp),
        "ext_temp": _reading(live, stream.ext_temp),
        "temp_target": state.get("sp"),
        "temp_unit": "C",
        "heat_state": HEAT_STATE.get(str(state.get("state")), "off"),
        "gravity": _reading(live, stream.gravity),
        "gravity_unit": stream.gravity_unit,
        "battery": _reading(live, stream.battery),
        "angle": _reading(live, stream.angle),
        "rssi": _reading(live, stream.rssi),
        "beer": stream.beer,
        "comment": stream.comment,
        "ts": now,
        "ts_iso": datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds"),
    }


def _present(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if v is not None and v != ""}


def brewfather_body(values: dict[str, Any]) -> dict[str, Any]:
    """docs.brewfather.app/integrations/custom-stream: the documented field names only."""
    return _present(
        {
            "name": values["name"],
            "temp": values["temp"],
            "aux_temp": values["aux_temp"],
            "ext_temp": values["ext_temp"],
            "temp_unit": values["temp_unit"],
            "gravity": values["gravity"],
            "gravity_unit": values["gravity_unit"] if values["gravity"] is not None else None,
            "battery": values["battery"],
            "temp_target": values["temp_target"],
            "device_state": values["heat_state"],
            "comment": values["comment"],
            "beer": values["beer"],
            "device_source": "Maelstrom loop",
            "report_source": REPORT_SOURCE,
        }
    )


def brewers_friend_body(values: dict[str, Any]) -> dict[str, Any]:
    """docs.brewersfriend.com/api/stream: the documented field names only."""
    return _present(
        {
            "name": values["name"],
            "temp": values["temp"],
            "temp_unit": values["temp_unit"],
            "ambient": values["ext_temp"],
            "temp_target": values["temp_target"],
            "heat_state": values["heat_state"],
            "gravity": values["gravity"],
            "gravity_unit": values["gravity_unit"] if values["gravity"] is not None else None,
            "battery": values["battery"],
            "angle": values["angle"],
            "RSSI": values["rssi"],
            "comment": values["comment"],
            "beer": values["beer"],
            "device_source": "Maelstrom loop",
            "report_source": REPORT_SOURCE,
        }
    )


_PLACEHOLDER = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")


def fill(template: Any, values: dict[str, Any]) -> Any:
    """A JSON template with `{{field}}` placeholders filled in (a whole string keeps the type)."""
    if isinstance(template, dict):
        return {k: fill(v, values) for k, v in template.items()}
    if isinstance(template, list):
        return [fill(v, values) for v in template]
    if isinstance(template, str):
        whole = _PLACEHOLDER.fullmatch(template.strip())
        if whole:
            return values.get(whole.group(1))
        return _PLACEHOLDER.sub(
            lambda m: "" if values.get(m.group(1)) is None else str(values[m.group(1)]), template
        )
    return template


def body_for(stream: Stream, values: dict[str, Any]) -> dict[str, Any]:
    if stream.kind == StreamKind.brewfather:
        return brewfather_body(values)
    if stream.kind == StreamKind.brewers_friend:
        return brewers_friend_body(values)
    if stream.template is None:
        return {**brewfather_body(values), "ts": values["ts"]}
    return fill(stream.template, values)


class Streamer:
    def __init__(
        self,
        clock: Clock,
        live: Live,
        streams: Callable[[], list[Stream]],
        loop_name: Callable[[str], str],
    ) -> None:
        self.clock = clock
        self.live = live
        self.streams = streams
        self.loop_name = loop_name
        self.posts = 0
        self.failures = 0
        self._next: dict[str, float] = {}
        self._last_failed: dict[str, bool] = {}
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._sleeper: asyncio.Future[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=POST_TIMEOUT_S))
        self._task = asyncio.create_task(self._run(), name="streams")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._session is not None:
            await self._session.close()

    def wake(self) -> None:
        self._wake.set()

    async def settled(self, timeout: float = 10.0) -> None:
        """Until the worker sleeps with nothing due (tests on a SimClock)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for _ in range(5):
                await asyncio.sleep(0)
            if self._asleep():
                return
            if loop.time() > deadline:
                raise TimeoutError("streams did not settle")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), 0.05)

    def status(self, stream: Stream) -> StreamOut:
        row = StreamRow.get_or_none(StreamRow.id == stream.id)
        pending = StreamPostRow.select().where(
            (StreamPostRow.stream == stream.id) & (StreamPostRow.state == "pending")
        )
        last = (
            StreamPostRow.select()
            .where((StreamPostRow.stream == stream.id) & (StreamPostRow.state == "sent"))
            .order_by(StreamPostRow.id.desc())
            .first()
        )
        status = StreamStatus(
            last_success_at=row.last_success_at if row else None,
            last_error=row.last_error if row else None,
            last_error_at=row.last_error_at if row else None,
            buffered=pending.count(),
            next_post_at=self._next.get(stream.id),
            last_post=json.loads(last.body) if last else None,
        )
        data = stream.model_dump()
        data["url"] = mask_url(stream.url)
        return StreamOut(**data, status=status)

    # the worker -------------------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            self._idle.clear()
            self._wake.clear()
            now = self.clock.now()
            streams = {s.id: s for s in self.streams() if s.enabled}
            for gone in set(self._next) - set(streams):
                del self._next[gone]
            for stream in streams.values():
                due = self._next.setdefault(stream.id, now)
                if due <= now:
                    try:
                        await self._tick(stream, now)
                    except Exception:
                        log.exception("stream %s failed", stream.id)
                    self._next[stream.id] = now + stream.interval_min * 60
            next_at = min(self._next.values(), default=None)
            self._idle.set()
            await self._wait(next_at)

    def _asleep(self) -> bool:
        """Sleeping on the clock, with no wake-up already on its way."""
        sleeper = self._sleeper
        woken = self._wake.is_set() or (sleeper is not None and sleeper.done())
        return self._idle.is_set() and not woken

    async def _sleep_until(self, at: float) -> None:
        await self.clock.sleep(at - self.clock.now())

    async def _wait(self, next_at: float | None) -> None:
        limit = self.clock.now() + 300.0
        sleeper = asyncio.ensure_future(self._sleep_until(min(next_at or limit, limit)))
        self._sleeper = sleeper
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, waker):
                task.cancel()

    async def _tick(self, stream: Stream, now: float) -> None:
        waiting = StreamPostRow.select().where(
            (StreamPostRow.stream == stream.id) & (StreamPostRow.state == "pending")
        )
        if not waiting.exists() or self._last_failed.get(stream.id, False):
            values = snapshot(stream, self.live, self.loop_name(stream.loop), now)
            if any(values[k] is not None for k in VALUE_FIELDS):
                StreamPostRow.create(
                    stream=stream.id, body=json.dumps(body_for(stream, values)), taken_at=now
                )
                self._trim(stream)
            else:  # nothing measured now (controller down?): the services refuse empty posts
                log.info("stream %s: no reading of loop %s to send", stream.id, stream.loop)
        oldest = waiting.order_by(StreamPostRow.taken_at, StreamPostRow.id).first()
        if oldest is None:
            return
        error = await self._post(stream, oldest.body)
        oldest.attempts += 1
        if error is None:
            oldest.state, oldest.sent_at = "sent", now
            oldest.save()
            StreamRow.update(last_success_at=now).where(StreamRow.id == stream.id).execute()
            self._last_failed[stream.id] = False
            self.posts += 1
            # Keep the log of what was sent short: the last few posts are enough to show.
            keep = (
                StreamPostRow.select(StreamPostRow.id)
                .where((StreamPostRow.stream == stream.id) & (StreamPostRow.state == "sent"))
                .order_by(StreamPostRow.id.desc())
                .limit(20)
            )
            StreamPostRow.delete().where(
                (StreamPostRow.stream == stream.id)
                & (StreamPostRow.state == "sent")
                & StreamPostRow.id.not_in(keep)
            ).execute()
            return
        oldest.save()
        self._last_failed[stream.id] = True
        self.failures += 1
        StreamRow.update(last_error=error, last_error_at=now).where(
            StreamRow.id == stream.id
        ).execute()
        log.warning("stream %s to %s failed: %s", stream.id, mask_url(stream.url), error)

    def _trim(self, stream: Stream) -> None:
        pending = (
            StreamPostRow.select(StreamPostRow.id)
            .where((StreamPostRow.stream == stream.id) & (StreamPostRow.state == "pending"))
            .order_by(StreamPostRow.taken_at.desc(), StreamPostRow.id.desc())
            .offset(stream.buffer_max)
        )
        dropped = StreamPostRow.delete().where(StreamPostRow.id.in_(pending)).execute()
        if dropped:
            log.warning(
                "stream %s: buffer full, dropped the %d oldest readings", stream.id, dropped
            )

    async def _post(self, stream: Stream, body: str) -> str | None:
        assert self._session is not None
        try:
            async with self._session.post(
                stream.url, data=body, headers={"Content-Type": "application/json"}
            ) as resp:
                text = (await resp.text())[:200]
                if 200 <= resp.status < 300:
                    return None
                return f"HTTP {resp.status}: {text}"
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            return f"{type(exc).__name__}: {exc}"[:300].replace(stream.url, mask_url(stream.url))
