"""Watchdogs: alarms for what a brewer wants to hear about before it becomes a problem.

Three per loop, each configured by `Loop.watchdogs` (defaults per loop kind in
services/common/schema/watchdogs.py) and raised like any alarm, so they are shown and
notified like any (docs/notifications.md):

* `<loop>-band` — the temperature outside a band around the setpoint for longer than
  a time. Armed only once the loop has *reached* its setpoint: a setpoint change, a
  step or a ramp the loop is still catching up with disarms it (a kettle heating to
  its first rest, a fermenter crash-cooling is a plan, not a fault).
* `<loop>-silent-<device>` — a device the loop reads (its probe, its hydrometer) has
  missed `silent_reports` of its reports. Its reporting interval is learned from the
  readings themselves (the median gap), so an iSpindel every 15 min and a Tasmota on
  `TelePeriod 60` each get their own limit with no setting.
* `<loop>-stuck` — a program step that cannot advance: its condition (gravity,
  attenuation, stable, the brewer's confirmation) unmet long after its hold, or its
  target not reached long after its planned ramp.

They only watch: no output is touched (the protections and the failsafe do that).
The controller's supervisor calls `supervise()` once a cycle; durations run on the
monotonic clock, except a program's, whose times are the run's own wall-clock times
(they survive a restart; the step engine counts its holds the same way).
"""

from __future__ import annotations

import hashlib
import itertools
import statistics
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from services.common.clock import Clock
from services.common.programs import label, ramp_seconds
from services.common.schema.base import is_id
from services.common.schema.config import (
    ConditionType,
    Device,
    Loop,
    LoopMode,
    Profile,
    Severity,
)
from services.common.schema.watchdogs import Watchdogs as WatchdogSettings
from services.controller.alarms import AlarmManager
from services.controller.devices.points import SensorPoint
from services.controller.devices.registry import Registry

if TYPE_CHECKING:
    from services.controller.control.loop import LoopRuntime

CLEAR_FRACTION = 0.8
"""A band alarm clears only well inside the band, so a beer on its edge does not chatter."""
GAPS_KEPT = 8
FIRST_INTERVAL_S = 900.0
"""Assumed until a device's interval is learned (3 readings): an iSpindel's usual 15 min,
the longest common one — a device just added is not called silent too soon."""


def when(ts: float) -> str:
    """A wall time as the brewer reads it (the controller's local time zone)."""
    return datetime.fromtimestamp(ts).astimezone().strftime("%Y-%m-%d %H:%M %Z").strip()


def duration(seconds: float) -> str:
    minutes = int(max(0.0, seconds) // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{hours // 24} days {hours % 24} h"


def alarm_id(*parts: str) -> str:
    """An alarm id from a loop's and a device's ids, shortened to a valid id when long."""
    text = "-".join(parts)
    if is_id(text):
        return text
    digest = hashlib.sha1(text.encode()).hexdigest()[:8]
    return f"{text[:50].rstrip('-_')}-{digest}"


# --- a device's reports ------------------------------------------------------------------------


class Reports:
    """When a sensor point was last heard, and how often it reports (learned)."""

    def __init__(self, point: SensorPoint, started: float) -> None:
        self.point = point
        self.started = started
        self.heard: deque[float] = deque(maxlen=GAPS_KEPT + 1)
        self.interval: float | None = None
        """The device's usual gap between reports (the median), None until three were heard."""
        if point.ts is not None and (point.error is None or point.glitch):
            self.heard.append(point.ts)
        point.subscribe(self._on_reading)

    def close(self) -> None:
        self.point.unsubscribe(self._on_reading)

    def _on_reading(self, point: SensorPoint) -> None:
        if point.error is not None and not point.glitch:
            return  # the device driver saying it lost the device: not a report
        if point.ts is not None and (not self.heard or point.ts > self.heard[-1]):
            self.heard.append(point.ts)
            heard = list(self.heard)
            if len(heard) >= 3:
                self.interval = statistics.median(b - a for a, b in itertools.pairwise(heard))

    @property
    def last(self) -> float | None:
        return self.heard[-1] if self.heard else None

    def silence(self, now: float) -> float:
        return now - (self.last if self.last is not None else self.started)


# --- one loop's watchdogs ----------------------------------------------------------------------


@dataclass
class BandWatch:
    reached_sp: float | None = None  # the setpoint the loop last was within the band of
    outside_since: float | None = None  # monotonic
    outside_since_wall: float = 0.0


@dataclass
class LoopWatch:
    loop_id: str
    band: BandWatch = field(default_factory=BandWatch)
    reports: dict[tuple[str, str], Reports] = field(default_factory=dict)
    silent_devices: set[str] = field(default_factory=set)  # the ones an alarm was judged for
    alarm_ids: dict[str, str] = field(default_factory=dict)  # device → its silent alarm's id
    cfg: Loop | None = None  # the configuration `settings` were merged from
    settings: WatchdogSettings = field(default_factory=WatchdogSettings)

    def settings_of(self, cfg: Loop) -> WatchdogSettings:
        """The merged settings, again only when the loop's configuration changed."""
        if cfg is not self.cfg:
            self.cfg, self.settings = cfg, cfg.watchdog_settings
        return self.settings

    def close(self) -> None:
        for reports in self.reports.values():
            reports.close()
        self.reports.clear()


class Watchdogs:
    def __init__(
        self,
        clock: Clock,
        alarms: AlarmManager,
        registry: Registry,
        devices: Mapping[str, Device],
        profiles: Mapping[str, Profile],
    ) -> None:
        self.clock = clock
        self.alarms = alarms
        self.registry = registry
        self.devices = devices
        self.profiles = profiles
        self.watches: dict[str, LoopWatch] = {}

    def supervise(self, loops: Mapping[str, LoopRuntime]) -> None:
        """Check every running loop (a loop that stopped has had its alarms cleared)."""
        now = self.clock.monotonic()
        for loop_id in set(self.watches) - set(loops):
            self.watches.pop(loop_id).close()
        for loop_id, runtime in loops.items():
            watch = self.watches.get(loop_id)
            if watch is None:
                watch = self.watches[loop_id] = LoopWatch(loop_id)
            settings = watch.settings_of(runtime.cfg)
            self._band(watch, runtime, settings, now)
            self._silent(watch, runtime, settings, now)
            self._stuck(runtime, settings)

    def stop(self) -> None:
        for watch in self.watches.values():
            watch.close()
        self.watches.clear()

    # the band around the setpoint ----------------------------------------------------------------
    def _band(
        self, watch: LoopWatch, runtime: LoopRuntime, settings: WatchdogSettings, now: float
    ) -> None:
        cfg, band = runtime.cfg, watch.band
        width, hold = settings.band_c or 0.0, settings.band_s or 0.0
        alarm = f"{runtime.id}-band"
        pv, sp = runtime.pv, runtime.sp
        if pv is None or runtime.guard.tripped is not None:
            return  # a lost probe or a tripped protection has its own alarm; judge later
        if (
            width <= 0
            or hold <= 0
            or sp is None
            or cfg.mode
            not in (
                LoopMode.constant,
                LoopMode.profile,
            )
        ):
            watch.band = BandWatch()
            self.alarms.condition(alarm, False)
            return
        error = abs(pv - sp)
        active = self.alarms.is_active(alarm)
        if band.reached_sp is not None and abs(sp - band.reached_sp) > width:
            # A new target (a command, the next step, a ramp running ahead of the beer):
            # nothing is wrong until the loop has had the chance to get there.
            band.reached_sp = band.outside_since = None
            self.alarms.condition(alarm, False)
            active = False
        inside = error <= (CLEAR_FRACTION * width if active else width)
        if inside:
            band.reached_sp = sp
            band.outside_since = None
            self.alarms.condition(alarm, False)
            return
        if band.reached_sp is None:
            return  # still on its way to the setpoint: heat-up, crash cooling, a ramp
        if band.outside_since is None:
            band.outside_since = now
            band.outside_since_wall = self.clock.now()
        if now - band.outside_since >= hold:
            side = "above" if pv > sp else "below"
            self.alarms.condition(
                alarm,
                True,
                f"{runtime.title}: {pv:.1f} °C is {error:.1f} °C {side} the setpoint {sp:.1f} °C "
                f"(band ± {width:g} °C) since {when(band.outside_since_wall)}, "
                f"for {duration(now - band.outside_since)}",
                kind="band",
                severity=Severity.medium,
                source=runtime.id,
            )

    # devices gone silent ---------------------------------------------------------------------------
    def _silent(
        self, watch: LoopWatch, runtime: LoopRuntime, settings: WatchdogSettings, now: float
    ) -> None:
        cfg = runtime.cfg
        refs = {(cfg.sensor.device, cfg.sensor.id): "temperature probe"}
        if cfg.gravity is not None:
            refs.setdefault((cfg.gravity.device, cfg.gravity.id), "hydrometer")
        for key in set(watch.reports) - set(refs):
            watch.reports.pop(key).close()
        silent: dict[str, list[tuple[str, Reports, float]]] = {}
        watched: set[str] = set()
        for key, role in refs.items():
            device_id = key[0]
            if not self.registry.drives(device_id):
                continue  # not ours to hear (or not running): nothing to judge
            reports = watch.reports.get(key)
            if reports is None:
                reports = watch.reports[key] = Reports(self.registry.sensor(*key), now)
            watched.add(device_id)
            interval = reports.interval or FIRST_INTERVAL_S
            limit = max(settings.silent_min_s or 0.0, (settings.silent_reports or 0) * interval)
            if settings.silent_reports and reports.silence(now) > limit:
                silent.setdefault(device_id, []).append((role, reports, interval))
        # a device no longer wired to the loop (its hydrometer removed) is cleared too
        judged, watch.silent_devices = watch.silent_devices, {k[0] for k in refs}
        for device_id in judged | watch.silent_devices:
            alarm = watch.alarm_ids.get(device_id)
            if alarm is None:
                alarm = watch.alarm_ids[device_id] = alarm_id(runtime.id, "silent", device_id)
            points = silent.get(device_id) if device_id in watched else None
            if not points:
                if not self.alarms.is_active(alarm):
                    continue  # the usual case: nothing to raise, nothing to clear
                unheard = all(r.last is None for k, r in watch.reports.items() if k[0] == device_id)
                if device_id in watched and settings.silent_reports and unheard:
                    continue  # raised before a restart, and still nothing heard: it stands
                self.alarms.condition(alarm, False)
                continue
            if not self.alarms.is_active(alarm) and self.alarms.is_active(f"{device_id}-offline"):
                continue  # its driver already says it is offline: one alarm is enough
            self.alarms.condition(
                alarm,
                True,
                self._silent_message(runtime.title, device_id, points, now),
                kind="silent",
                severity=Severity.medium,
                source=runtime.id,
            )

    def _silent_message(
        self, title: str, device_id: str, points: list[tuple[str, Reports, float]], now: float
    ) -> str:
        device = self.devices.get(device_id)
        name = (device.name if device is not None else "") or device_id
        role, reports, interval = max(points, key=lambda p: p[1].silence(now))
        wall = self.clock.now() - reports.silence(now)
        heard = "nothing heard" if reports.last is None else "silent"
        point = reports.point
        last = (
            f"last {point.sensor} {point.value:.4g}{' ' + point.unit if point.unit else ''}"
            if point.value is not None
            else "no reading yet"
        )
        learned = "usually" if reports.interval is not None else "assumed"
        return (
            f"{title}: {role} {name} ({device_id}) {heard} since {when(wall)}, "
            f"for {duration(reports.silence(now))} ({learned} every {duration(interval)}); {last}"
        )

    # a program step that cannot advance -------------------------------------------------------------
    def _stuck(self, runtime: LoopRuntime, settings: WatchdogSettings) -> None:
        alarm = f"{runtime.id}-stuck"
        message = self._stuck_message(runtime, settings)
        self.alarms.condition(
            alarm,
            message is not None,
            message or "",
            kind="stuck",
            severity=Severity.medium,
            source=runtime.id,
        )

    def _stuck_message(self, runtime: LoopRuntime, settings: WatchdogSettings) -> str | None:
        cfg, run = runtime.cfg, runtime.cfg.profile
        if cfg.mode != LoopMode.profile or run is None or run.paused_at is not None:
            return None
        profile = self.profiles.get(run.profile)
        steps = profile.steps if profile is not None else None
        if not steps or run.step is None or run.step >= len(steps):
            return None
        step, name = steps[run.step], label(profile, run.step)  # type: ignore[arg-type]
        wall = self.clock.now()
        value = f"now {runtime.pv:.1f} °C" if runtime.pv is not None else "no temperature reading"
        result = runtime.steps.result
        waiting = result.waiting.text if result is not None and result.waiting else ""
        if run.waiting_since is not None and settings.step_wait_s:
            limit = settings.step_wait_s
            if step.until.type == ConditionType.stable and step.until.hours:
                limit += step.until.hours * 3600.0  # its own window comes first
            waited = wall - run.waiting_since
            if waited > limit:
                return (
                    f"{runtime.title}: step '{name}' cannot advance: {waiting or 'waiting'} "
                    f"since {when(run.waiting_since)}, for {duration(waited)} "
                    f"(expected within {duration(limit)}); {value}"
                )
        elif (
            run.reached_at is None
            and run.step_started_at is not None
            and step.temperature is not None
            and settings.step_reach_s
        ):
            ramp = ramp_seconds(step, run.ramp_from)
            limit = ramp + settings.step_reach_s
            took = wall - run.step_started_at
            if took > limit:
                return (
                    f"{runtime.title}: step '{name}' has not reached {step.temperature:g} °C "
                    f"since it began {when(run.step_started_at)}, for {duration(took)} "
                    f"(expected within {duration(limit)}); {value}"
                )
        return None
