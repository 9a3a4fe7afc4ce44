"""The notifier: alarm records in, messages out, through an outbox that outlives restarts.

* `on_alarm` sees every retained record on the alarms channel. The first time an
  occurrence (alarm id + `raised_at`) matches a rule, it writes an `alarm_notice`
  and one outbox row per target in one transaction; the notice is why the same
  retained record seen again after a restart is not notified twice. A cleared
  (or removed) alarm queues "resolved" once; an acknowledgement stops reminders.
* Escalation runs on the injected clock: an open, unacknowledged notice is
  re-sent every `repeat_every_min`, and after `escalate_after_min` also goes to
  `escalate_to`.
* The worker delivers due rows: Apprise in a thread executor (it blocks), per
  target at most `max_per_hour` (what is held back goes out later as one digest),
  retries with exponential back-off, a row marked `sent` only after Apprise says
  so — a row still pending when the API stops is delivered after it starts.
* Quiet hours hold low and medium alarms until the window ends; high and
  critical are never held.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import peewee

from services.api.models import AlarmNoticeRow, NotificationRow
from services.api.notifications import messages
from services.api.notifications.messages import Message, Where
from services.api.notifications.schema import QuietHours, Rule, Target, TestResult
from services.api.notifications.sender import SendResult, mask_url, send
from services.api.notifications.store import NotificationStore
from services.common.clock import Clock
from services.common.schema.alarms import Alarm, AlarmState
from services.common.schema.config import Severity

log = logging.getLogger(__name__)

Sender = Callable[[str, str, str, str], SendResult]
RATE_WINDOW_S = 3600.0
MAX_WAIT_S = 300.0
"""The worker re-checks at least this often, whatever it thinks is next."""
URGENT = (Severity.high, Severity.critical)


@dataclass(frozen=True)
class Backoff:
    first_s: float = 30.0
    max_s: float = 3600.0
    attempts: int = 10
    """After this many failed attempts a message is marked failed (≈ 5 h with the defaults)."""

    def delay(self, attempts: int) -> float:
        return min(self.first_s * 2 ** max(0, attempts - 1), self.max_s)


@dataclass(frozen=True)
class Context:
    """What the notifier needs from the rest of the API, as functions."""

    where: Callable[[str], Where]
    """An alarm source (loop, device, client id) in words."""
    loops_of: Callable[[str], set[str]]
    """The loops an alarm source concerns (itself if a loop, the loops using a device)."""
    public_url: Callable[[], str | None]


def in_quiet_hours(quiet: QuietHours, now: float) -> float | None:
    """When the quiet window around `now` ends (Unix time), or None when not in one."""
    tz = ZoneInfo(quiet.timezone) if quiet.timezone else None
    local = datetime.fromtimestamp(now, tz).astimezone(tz)
    start = local.replace(hour=quiet.start.hour, minute=quiet.start.minute, second=0, microsecond=0)
    end = local.replace(hour=quiet.end.hour, minute=quiet.end.minute, second=0, microsecond=0)
    if quiet.start == quiet.end:
        return None
    if quiet.start < quiet.end:  # same day, e.g. 13:00 → 15:00
        return end.timestamp() if start <= local < end else None
    # across midnight, e.g. 22:00 → 07:00
    if local >= start:
        return (end + timedelta(days=1)).timestamp()
    if local < end:
        return end.timestamp()
    return None


class Notifier:
    def __init__(
        self,
        store: NotificationStore,
        clock: Clock,
        context: Context,
        *,
        sender: Sender = send,
        backoff: Backoff = Backoff(),
    ) -> None:
        self.store = store
        self.clock = clock
        self.context = context
        self.sender = sender
        self.backoff = backoff
        self.alarms: dict[str, Alarm] = {}
        self._deferred: list[tuple[str, Alarm | None]] = []
        self.loop_states: dict[str, dict[str, Any]] = {}
        self.delivered = 0
        self.failed = 0
        self._executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="apprise")
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._sleeper: asyncio.Future[None] | None = None
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    # lifecycle -------------------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="notifier")

    async def stop(self, timeout: float = 35.0) -> None:
        """Let a delivery in flight finish (and be recorded), then stop."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
        self._executor.shutdown(wait=False, cancel_futures=True)

    def wake(self) -> None:
        self._wake.set()

    async def settled(self, timeout: float = 10.0) -> None:
        """Wait until nothing is due now and the worker sleeps (tests on a SimClock)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for _ in range(5):
                await asyncio.sleep(0)
            if self._asleep():
                return
            if loop.time() > deadline:
                raise TimeoutError("the notifier did not settle")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), 0.05)

    # alarms ----------------------------------------------------------------------------------
    def on_alarm(self, alarm_id: str, alarm: Alarm | None) -> None:
        """A record on the alarms channel (None: removed, i.e. cleared and acknowledged).

        Never lost to a busy database: a record that cannot be taken in now (SQLite
        locked by the history writer past busy_timeout) is taken by the worker later.
        """
        if self._deferred:  # keep the order: behind the ones still waiting
            self._deferred.append((alarm_id, alarm))
            self.wake()
            return
        try:
            self._take_alarm(alarm_id, alarm)
        except peewee.PeeweeException as exc:
            log.warning("alarm %s: notification deferred (%s)", alarm_id, exc)
            self._deferred.append((alarm_id, alarm))
            self.wake()

    def _take_deferred(self) -> None:
        while self._deferred:
            alarm_id, alarm = self._deferred[0]
            self._take_alarm(alarm_id, alarm)  # raises again if the database is still busy
            self._deferred.pop(0)

    def _take_alarm(self, alarm_id: str, alarm: Alarm | None) -> None:
        now = self.clock.now()
        if alarm is None:
            gone = self.alarms.pop(alarm_id, None)
            for notice in self._open_notices(alarm_id):
                self._resolve(notice, gone, now)
            self.wake()
            return
        if not alarm.raised_at:
            return  # a client's raw raise: the controller answers with the full record
        self.alarms[alarm_id] = alarm
        for notice in self._open_notices(alarm_id):
            if notice.raised_at != alarm.raised_at:  # an earlier occurrence we missed ending
                self._resolve(notice, None, now)
        rules = [
            r for r in self.store.rules() if r.enabled and r.alarms and self._matches(r, alarm)
        ]
        with self.store_atomic():
            for rule in rules:
                key = f"{rule.id}|{alarm.id}|{alarm.raised_at!r}"
                notice = AlarmNoticeRow.get_or_none(AlarmNoticeRow.key == key)
                if notice is None:
                    if alarm.state != AlarmState.active:
                        continue  # it came and went while we were not looking
                    self._queue_alarm(rule, rule.targets, alarm, "raised", now)
                    AlarmNoticeRow.create(
                        key=key,
                        rule=rule.id,
                        alarm_id=alarm.id,
                        raised_at=alarm.raised_at,
                        severity=alarm.severity.value,
                        first_sent_at=now,
                        last_sent_at=now,
                        acknowledged=alarm.acknowledged,
                    )
                    continue
                if alarm.acknowledged and not notice.acknowledged:
                    notice.acknowledged = True
                    notice.save()
                if alarm.state == AlarmState.cleared and not notice.resolved:
                    self._resolve(notice, alarm, now)
        self.wake()

    def _matches(self, rule: Rule, alarm: Alarm) -> bool:
        if rule.severities and alarm.severity not in rule.severities:
            return False
        if rule.sources and alarm.source not in rule.sources:
            return False
        if rule.kinds and alarm.kind not in rule.kinds:
            return False
        return not rule.loops or bool(set(rule.loops) & self.context.loops_of(alarm.source))

    def _open_notices(self, alarm_id: str) -> list[AlarmNoticeRow]:
        return list(
            AlarmNoticeRow.select().where(
                (AlarmNoticeRow.alarm_id == alarm_id) & (AlarmNoticeRow.resolved == False)  # noqa: E712
            )
        )

    def _resolve(self, notice: AlarmNoticeRow, alarm: Alarm | None, now: float) -> None:
        notice.resolved = True
        notice.save()
        rule = self.store.find_rule(notice.rule)
        if rule is None or not rule.send_resolved or alarm is None:
            return
        targets = [*rule.targets, *(rule.escalate_to if notice.escalated else [])]
        self._queue_alarm(rule, targets, alarm, "resolved", now)

    def _queue_alarm(
        self, rule: Rule, targets: Iterable[str], alarm: Alarm, event: str, now: float
    ) -> None:
        where = self.context.where(alarm.source)
        value = messages.live_value(self.loop_states.get(where.loop)) if where.loop else None
        tz = (
            ZoneInfo(rule.quiet_hours.timezone)
            if rule.quiet_hours and rule.quiet_hours.timezone
            else None
        )
        message = messages.alarm_message(
            alarm, event, where, value, self.context.public_url(), now, tz
        )
        due = now
        if rule.quiet_hours and alarm.severity not in URGENT:
            due = in_quiet_hours(rule.quiet_hours, now) or now
        self._queue(
            dict.fromkeys(targets),
            message,
            due,
            now,
            rule.id,
            alarm.id,
            event,
            alarm.severity.value,
        )

    def _queue(
        self,
        targets: Iterable[str],
        message: Message,
        due: float,
        now: float,
        rule: str | None,
        alarm_id: str | None,
        event: str,
        severity: str,
    ) -> None:
        for target in targets:
            NotificationRow.create(
                target=target,
                rule=rule,
                alarm_id=alarm_id,
                event=event,
                severity=severity,
                title=message.title,
                body=message.body,
                created_at=now,
                due_at=due,
            )

    def store_atomic(self) -> Any:
        return NotificationRow._meta.database.atomic()

    # loop events -----------------------------------------------------------------------------
    def on_loop_state(self, loop_id: str, state: dict[str, Any]) -> None:
        before = self.loop_states.get(loop_id)
        self.loop_states[loop_id] = state
        if before is None:
            return  # the retained state at start: a baseline, not an event
        old, new = before.get("profile") or {}, state.get("profile") or {}
        if not isinstance(old, dict) or not isinstance(new, dict) or not new:
            return
        name = str(state.get("name") or loop_id)
        if new.get("finished") and not old.get("finished"):
            self._event(
                "profile_finished",
                loop_id,
                f"profile {new.get('name') or new.get('profile')} finished",
            )
        elif (
            old and new.get("step") != old.get("step") and new.get("profile") == old.get("profile")
        ):
            step = new.get("step")
            steps = new.get("steps")
            self._event(
                "step_changed",
                loop_id,
                f"{name}: step {int(step) + 1 if isinstance(step, int) else step} of {steps}, "
                f"profile {new.get('name') or new.get('profile')}",
            )

    def _event(self, event: str, loop_id: str, detail: str) -> None:
        now = self.clock.now()
        state = self.loop_states.get(loop_id)
        name = str((state or {}).get("name") or loop_id)
        message = messages.event_message(
            event, name, detail, messages.live_value(state), self.context.public_url()
        )
        with self.store_atomic():
            for rule in self.store.rules():
                if not rule.enabled or event not in rule.events:
                    continue
                if rule.loops and loop_id not in rule.loops:
                    continue
                if rule.sources and loop_id not in rule.sources:
                    continue
                self._queue(rule.targets, message, now, now, rule.id, None, event, "low")
        self.wake()

    # escalation ------------------------------------------------------------------------------
    def _escalation_plan(
        self, now: float
    ) -> tuple[list[tuple[AlarmNoticeRow, Rule, str]], float | None]:
        """What is due now (notice, rule, "reminder"|"escalation") and when the next one is."""
        due: list[tuple[AlarmNoticeRow, Rule, str]] = []
        nxt: float | None = None
        query = AlarmNoticeRow.select().where(
            (AlarmNoticeRow.resolved == False) & (AlarmNoticeRow.acknowledged == False)  # noqa: E712
        )
        rules = {r.id: r for r in self.store.rules()}
        for notice in query:
            rule = rules.get(notice.rule)
            if rule is None or not rule.enabled:
                continue
            times: list[tuple[float, str]] = []
            if rule.repeat_every_min:
                times.append((notice.last_sent_at + rule.repeat_every_min * 60, "reminder"))
            if rule.escalate_after_min and not notice.escalated:
                times.append((notice.first_sent_at + rule.escalate_after_min * 60, "escalation"))
            for at, what in times:
                if at <= now + 1e-6:
                    due.append((notice, rule, what))
                else:
                    nxt = at if nxt is None else min(nxt, at)
        return due, nxt

    def _escalate(self, now: float) -> None:
        due, _ = self._escalation_plan(now)
        if not due:
            return
        with self.store_atomic():
            for notice, rule, what in due:
                alarm = self.alarms.get(notice.alarm_id)
                if alarm is None or alarm.raised_at != notice.raised_at:
                    continue  # not (yet) seen since start; its retained record is on the way
                if alarm.acknowledged or alarm.state != AlarmState.active:
                    continue
                quiet = (
                    rule.quiet_hours is not None
                    and alarm.severity not in URGENT
                    and in_quiet_hours(rule.quiet_hours, now) is not None
                )
                if what == "escalation":
                    notice.escalated = True
                    self._queue_alarm(rule, rule.escalate_to, alarm, "escalation", now)
                else:
                    notice.last_sent_at = now
                    if not quiet:
                        targets = [*rule.targets, *(rule.escalate_to if notice.escalated else [])]
                        self._queue_alarm(rule, targets, alarm, "reminder", now)
                notice.save()

    # delivery --------------------------------------------------------------------------------
    def _next_due(self, now: float) -> float | None:
        row = (
            NotificationRow.select(NotificationRow.due_at)
            .where(NotificationRow.state == "pending")
            .order_by(NotificationRow.due_at)
            .first()
        )
        _, escalation = self._escalation_plan(now)
        times = [t for t in (row.due_at if row else None, escalation) if t is not None]
        return min(times) if times else None

    async def _run(self) -> None:
        while not self._stopping:
            self._idle.clear()
            self._wake.clear()
            now = self.clock.now()
            try:
                self._take_deferred()
                self._escalate(now)
                await self._deliver_due(now)
                next_at = self._next_due(now)
            except Exception:
                log.exception("notification worker pass failed; retrying")
                next_at = now + self.backoff.first_s
            if self._stopping:
                break
            if next_at is not None and next_at <= self.clock.now():
                continue
            self._idle.set()
            await self._wait(next_at)
        self._idle.set()

    def _asleep(self) -> bool:
        """Sleeping on the clock, with no wake-up already on its way."""
        sleeper = self._sleeper
        woken = self._wake.is_set() or (sleeper is not None and sleeper.done())
        return self._idle.is_set() and not woken

    async def _sleep_until(self, at: float) -> None:
        # The delay is taken when the task starts, not when it was created: the
        # clock may have moved in between (a SimClock always can).
        await self.clock.sleep(at - self.clock.now())

    async def _wait(self, next_at: float | None) -> None:
        limit = self.clock.now() + MAX_WAIT_S
        sleeper = asyncio.ensure_future(self._sleep_until(min(next_at or limit, limit)))
        self._sleeper = sleeper
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, waker):
                task.cancel()

    async def _deliver_due(self, now: float) -> None:
        rows = list(
            NotificationRow.select()
            .where((NotificationRow.state == "pending") & (NotificationRow.due_at <= now))
            .order_by(NotificationRow.id)
        )
        by_target: dict[str, list[NotificationRow]] = {}
        for row in rows:
            by_target.setdefault(row.target, []).append(row)
        await asyncio.gather(*(self._deliver(t, batch, now) for t, batch in by_target.items()))

    async def _deliver(self, target_id: str, rows: list[NotificationRow], now: float) -> None:
        target = self.store.find_target(target_id)
        if target is None or not target.enabled:
            why = "target deleted" if target is None else "target disabled"
            for row in rows:
                row.state, row.last_error = "failed", why
                row.save()
            return
        window = list(
            NotificationRow.select(NotificationRow.sent_at)
            .where(
                (NotificationRow.target == target_id)
                & (NotificationRow.state == "sent")
                & (NotificationRow.merged_into.is_null())
                & (NotificationRow.event != "test")
                & (NotificationRow.sent_at > now - RATE_WINDOW_S)
            )
            .order_by(NotificationRow.sent_at)
        )
        if len(window) >= target.max_per_hour:
            # Full: hold everything until the oldest send leaves the window.
            free_at = window[len(window) - target.max_per_hour].sent_at + RATE_WINDOW_S
            NotificationRow.update(due_at=free_at).where(
                NotificationRow.id.in_([r.id for r in rows])
            ).execute()
            return
        if len(rows) == 1:
            title, body, kind = (
                rows[0].title,
                rows[0].body,
                messages.KIND.get(rows[0].event, "info"),
            )
        else:
            title, body = messages.digest([(r.title, r.body) for r in rows])
            kind = "failure" if any(r.event in ("raised", "escalation") for r in rows) else "info"
        result = await self._send(target, title, body, kind)
        self._record(target, rows, result, self.clock.now())

    async def _send(self, target: Target, title: str, body: str, kind: str) -> SendResult:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor, self.sender, target.url, title, body, kind
        )

    def _record(
        self, target: Target, rows: list[NotificationRow], result: SendResult, now: float
    ) -> None:
        with self.store_atomic():
            self.store.record_attempt(target.id, result.ok, result.error, now)
            head = rows[0]
            for row in rows:
                row.attempts += 1
                if result.ok:
                    row.state, row.sent_at, row.last_error = "sent", now, None
                    row.merged_into = head.id if row is not head else None
                else:
                    row.last_error = result.error
                    if row.attempts >= self.backoff.attempts:
                        row.state = "failed"
                    else:
                        row.due_at = now + self.backoff.delay(row.attempts)
                row.save()
        if result.ok:
            self.delivered += 1
            return
        self.failed += 1
        gave_up = sum(1 for r in rows if r.state == "failed")
        log.warning(
            "notification to %s (%s) failed (attempt %d%s): %s",
            target.id,
            mask_url(target.url),
            head.attempts,
            ", giving up"
            if gave_up
            else f", retrying in {self.backoff.delay(head.attempts):.0f} s",
            result.error,
        )

    # test ------------------------------------------------------------------------------------
    async def test(self, target: Target, text: str) -> TestResult:
        """Send now, past the outbox and the rate limit, and say how it went."""
        now = self.clock.now()
        title = "Maelstrom test notification"
        body = f"{text}\nOpen: {messages.ui_link(self.context.public_url(), 'dashboard')}"
        row = NotificationRow.create(
            target=target.id,
            event="test",
            severity="low",
            title=title,
            body=body,
            created_at=now,
            due_at=now,
            state="sending",
        )
        result = await self._send(target, title, body, "info")
        done = self.clock.now()
        with self.store_atomic():
            self.store.record_attempt(target.id, result.ok, result.error, done)
            row.attempts = 1
            row.state = "sent" if result.ok else "failed"
            row.sent_at = done if result.ok else None
            row.last_error = result.error
            row.save()
        if result.ok:
            self.delivered += 1
        else:
            self.failed += 1
            log.warning(
                "test notification to %s (%s) failed: %s",
                target.id,
                mask_url(target.url),
                result.error,
            )
        return TestResult(
            target=target.id,
            ok=result.ok,
            error=result.error,
            elapsed_s=result.elapsed_s,
            delivery=row.id,
        )
