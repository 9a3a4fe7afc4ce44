"""The words of a notification: what, where, since when, the value now, and a link.

Messages are plain text (every Apprise service shows plain text; e-mail too) and
built when queued, so a reminder says what the value was when it was sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from services.common.schema.alarms import Alarm, AlarmState

EVENT_TITLES = {
    "raised": "{sev} alarm",
    "reminder": "Reminder: {sev} alarm still active",
    "escalation": "ESCALATED: {sev} alarm unacknowledged",
    "resolved": "Resolved",
}
KIND = {"raised": "failure", "reminder": "warning", "escalation": "failure", "resolved": "success"}


@dataclass(frozen=True)
class Where:
    """What an alarm's `source` names, in words."""

    text: str  # "loop FV1 (fv1)", "device ferm", or the source as it came
    loop: str | None = None  # the loop whose live value to show


@dataclass(frozen=True)
class Message:
    title: str
    body: str
    kind: str  # failure, warning, success, info (Apprise's notify types)


def format_time(ts: float, tz: ZoneInfo | None = None) -> str:
    return datetime.fromtimestamp(ts, tz).astimezone(tz).strftime("%Y-%m-%d %H:%M %Z").strip()


def duration(seconds: float) -> str:
    minutes = int(max(0.0, seconds) // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min"
    return f"{hours // 24} days {hours % 24} h"


def _num(value: Any) -> str | None:
    return f"{value:.1f}" if isinstance(value, (int, float)) else None


def live_value(state: dict[str, Any] | None) -> str:
    """A loop's live state in one line: `26.3 °C (setpoint 19.0 °C), cooling 100 %`."""
    if not state:
        return "no live data"
    pv = _num(state.get("pv"))
    parts = [f"{pv} °C" if pv is not None else "no reading"]
    sp = _num(state.get("sp"))
    if sp is not None:
        parts[0] += f" (setpoint {sp} °C)"
    output = state.get("output") or {}
    for name in ("heat", "cool"):
        duty = output.get(name) if isinstance(output, dict) else None
        if isinstance(duty, (int, float)) and duty > 0:
            parts.append(f"{'heating' if name == 'heat' else 'cooling'} {duty:.0f} %")
    if state.get("state") == "fault":
        parts.append("outputs off (fault)")
    return ", ".join(parts)


def ui_link(public_url: str | None, page: str = "alarms") -> str:
    if not public_url:
        return "(set the public_url setting or MAELSTROM_PUBLIC_URL to get a link here)"
    return f"{public_url.rstrip('/')}/#/{page}"


def alarm_message(
    alarm: Alarm,
    event: str,
    where: Where,
    value: str | None,
    public_url: str | None,
    now: float,
    tz: ZoneInfo | None = None,
) -> Message:
    sev = alarm.severity.value.upper()
    title = f"{EVENT_TITLES[event].format(sev=sev)}: {alarm.message}"
    if where.text and where.text not in alarm.message:
        title += f" ({where.text})"
    since = alarm.raised_at or alarm.ts or now
    lines = [
        f"What: {alarm.message} [{alarm.kind}, {alarm.severity.value}]",
        f"Where: {where.text or 'unknown'}",
        f"Since: {format_time(since, tz)} ({duration(now - since)} ago)",
    ]
    if event == "resolved":
        cleared = alarm.cleared_at if alarm.state == AlarmState.cleared else None
        end = cleared or now
        lines.append(f"Cleared: {format_time(end, tz)}, after {duration(end - since)}")
    if value is not None:
        lines.append(f"Current value: {value}")
    if alarm.acknowledged and alarm.acknowledged_by:
        lines.append(f"Acknowledged by {alarm.acknowledged_by}")
    elif event != "resolved":
        lines.append("Not acknowledged yet.")
    lines.append(f"Open: {ui_link(public_url)}")
    return Message(title[:250], "\n".join(lines), KIND[event])


def event_message(
    event: str, loop_name: str, detail: str, value: str | None, public_url: str | None
) -> Message:
    title = {"step_changed": "Next step", "profile_finished": "Profile finished"}.get(event, event)
    lines = [f"What: {detail}", f"Where: loop {loop_name}"]
    if value is not None:
        lines.append(f"Current value: {value}")
    lines.append(f"Open: {ui_link(public_url, 'dashboard')}")
    return Message(f"{title}: {loop_name}", "\n".join(lines), "info")


def digest(messages: list[tuple[str, str]]) -> tuple[str, str]:
    """Several queued messages for one target as one (rate limit, or a backlog after an outage)."""
    title = f"{len(messages)} Maelstrom notifications"
    body = "\n\n".join(f"— {t}\n{b}" for t, b in messages)
    return title, body
