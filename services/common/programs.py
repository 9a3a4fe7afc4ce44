"""Step profiles (programs): which step a run is in, what setpoint it asks for, and when
it moves on. Pure functions of (profile, run, now, pv, gravity readings), shared by the
controller (which runs them every decision) and the API (commands, previews).

A step's life, the way brewers write a mash schedule or a fermentation plan:

1. **ramp** (optional): the setpoint travels linearly from the previous step's target
   (or the reading when the run starts) to this step's target, over a duration or at
   a rate. No ramp: the setpoint is the target at once and the loop gets there as fast
   as it can.
2. **reach**: once the ramp is over, the hold starts the moment |PV − target| is within
   the step's tolerance (`reached_at`). A rest therefore never loses its ramp time.
3. **hold** `hold_s` (+ `extra_s` from an `extend` command).
4. **until**: then the step waits for its condition — nothing (`time`), a gravity, an
   attenuation, a stable gravity, or the brewer's confirmation — with an optional time
   limit counted from `reached_at` ("gravity ≤ 1.012 or 10 days, whichever first").

A condition is never met on bad data: the latest reading must be fresh (`max_age_s`)
and trusted (plausible, hydrometer battery fine), `gravity` and `attenuation` need the
last `CONFIRM_READINGS` readings all to agree (one noisy low reading does not skip a
step, the failure BrewPiLess users report), and `stable` needs readings spanning its
whole window. The step says what it waits for (`Waiting`), so the brewer sees why.

Everything that locates the run lives in `ProfileRun`, part of the loop's target, so the
position survives restarts. Pausing freezes the run's clock: `resume` shifts every time
field by the pause (services/common/profiles.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from services.common.schema.config import (
    ConditionType,
    Profile,
    ProfileRun,
    ProfileStep,
    StepCondition,
)
from services.common.schema.state import ProfileProgress

GRAVITY_RANGE = (0.980, 1.200)
"""SG a fermenting beer can have; anything else is a hydrometer fault."""
CONFIRM_READINGS = 3
"""Consecutive readings that must all meet a gravity or attenuation condition."""
MAX_AGE_S = 2 * 3600.0
"""A gravity reading older than this is stale (an iSpindel reports every 15-30 min)."""
READINGS_PER_HOUR = 1.0
"""`stable` needs at least this many good readings per hour of its window (and 3)."""
LOW_BATTERY_V = 3.5
"""An iSpindel's cell below this gives unreliable readings (its own 'low battery')."""


@dataclass(frozen=True)
class GravityReading:
    ts: float
    value: float  # SG
    problem: str | None = None  # why it is not to be trusted ("low battery (3.31 V)")


@dataclass(frozen=True)
class StepEvent:
    kind: str  # started | reached | waiting | advanced | finished | data
    step: int
    name: str
    text: str
    confirm: str | None = None  # the prompt, for a confirmation wait


@dataclass(frozen=True)
class Waiting:
    """What a step waits for: `code` changes when the reason does (events), `text` says it."""

    code: str
    text: str


@dataclass(frozen=True)
class StepResult:
    setpoint: float | None  # None: control off
    run: ProfileRun  # the same object when nothing changed
    events: tuple[StepEvent, ...] = ()
    waiting: Waiting | None = None
    finished: bool = False
    changed: bool = field(default=False)


def check_gravity(value: float, ts: float, battery_v: float | None = None) -> GravityReading:
    """A raw reading with the reason it cannot be trusted, if any."""
    problem = None
    if not math.isfinite(value) or not GRAVITY_RANGE[0] <= value <= GRAVITY_RANGE[1]:
        problem = f"implausible ({value:g})"
    elif battery_v is not None and battery_v < LOW_BATTERY_V:
        problem = f"low battery ({battery_v:.2f} V)"
    return GravityReading(ts, value, problem)


def plato_to_sg(plato: float) -> float:
    return 1.0 + plato / (258.6 - plato / 258.2 * 227.1)


def label(profile: Profile, index: int) -> str:
    steps = profile.steps or []
    if index >= len(steps):
        return "done"
    return steps[index].name or f"step {index + 1}"


def _c(value: float | None) -> str:
    return "off" if value is None else f"{value:g} °C"


def _duration(seconds: float) -> str:
    if seconds >= 2 * 86_400:
        return f"{seconds / 86_400:.1f} days"
    if seconds >= 2 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.0f} min"


def describe(cond: StepCondition) -> str:
    """The condition in words, as the dashboard shows it."""
    limit = f" or {_duration(cond.limit_s)}" if cond.limit_s else ""
    if cond.type == ConditionType.gravity:
        return f"gravity ≤ {cond.gravity:.3f}{limit}"
    if cond.type == ConditionType.attenuation:
        return f"attenuation ≥ {cond.percent:g} %{limit}"
    if cond.type == ConditionType.stable:
        return f"gravity stable (< {cond.delta:g} over {cond.hours:g} h){limit}"
    if cond.type == ConditionType.confirm:
        return (cond.prompt or "the brewer's confirmation") + limit
    return "end of the hold"


# --- starting and commands -------------------------------------------------------------


def start(profile: Profile, now: float, step: int = 0) -> ProfileRun:
    """A run at the beginning of `step` (the ramp starts from the first reading)."""
    _check_step(profile, step)
    return _enter(ProfileRun(profile=profile.id, started_at=now), profile, step, now, None)


def skip(profile: Profile, run: ProfileRun, now: float, step: int | None) -> ProfileRun:
    """Go to `step` (default: the next one), starting it afresh."""
    target = (run.step or 0) + 1 if step is None else step
    _check_step(profile, target, allow_end=step is None)
    steps = profile.steps or []
    here = run.step or 0
    previous = steps[here].temperature if here < len(steps) else None
    return _enter(run, profile, target, now, previous)


def extend(run: ProfileRun, seconds: float) -> ProfileRun:
    return run.model_copy(update={"extra_s": run.extra_s + seconds, "waiting_since": None})


def confirm(profile: Profile, run: ProfileRun) -> ProfileRun:
    """The brewer's confirmation of the running step; ValueError when it asks for none."""
    steps = profile.steps or []
    index = run.step or 0
    if index >= len(steps) or steps[index].until.type != ConditionType.confirm:
        raise ValueError(f"{label(profile, index)} does not wait for a confirmation")
    return run.model_copy(update={"confirmed": True})


def _check_step(profile: Profile, step: int, allow_end: bool = False) -> None:
    n = len(profile.steps or [])
    if not 0 <= step < n + (1 if allow_end else 0):
        raise ValueError(f"profile {profile.id!r} has steps 0..{n - 1}, not {step}")


def _enter(
    run: ProfileRun, profile: Profile, index: int, now: float, previous: float | None
) -> ProfileRun:
    return run.model_copy(
        update={
            "step": index,
            "step_started_at": now,
            "ramp_from": previous,
            "reached_at": None,
            "waiting_since": None,
            "confirmed": False,
            "extra_s": 0.0,
        }
    )


# --- evaluation --------------------------------------------------------------------------


def ramp_seconds(step: ProfileStep, start: float | None) -> float:
    """How long the step's ramp lasts starting from `start` °C (0: none or unknown)."""
    if step.ramp is None or step.temperature is None or start is None:
        return 0.0
    if step.ramp.duration_s is not None:
        return step.ramp.duration_s
    return abs(step.temperature - start) / step.ramp.rate_c_per_h * 3600.0  # type: ignore[operator]


def _ramp_setpoint(step: ProfileStep, run: ProfileRun, t: float) -> tuple[float | None, float]:
    """(setpoint at t, when the ramp ends)."""
    started = run.step_started_at if run.step_started_at is not None else t
    length = ramp_seconds(step, run.ramp_from)
    if step.temperature is None or length <= 0 or run.ramp_from is None:
        return step.temperature, started
    frac = min(1.0, max(0.0, (t - started) / length))
    return run.ramp_from + (step.temperature - run.ramp_from) * frac, started + length


def _condition(
    cond: StepCondition,
    run: ProfileRun,
    readings: Sequence[GravityReading],
    t: float,
    max_age_s: float,
) -> tuple[bool, Waiting]:
    """(met, what it waits for) for the gravity-based conditions and confirmation."""
    if cond.type == ConditionType.confirm:
        if run.confirmed:
            return True, Waiting("confirmed", "confirmed")
        return False, Waiting("confirm", cond.prompt or "waiting for the brewer's confirmation")
    if cond.type == ConditionType.time:
        return True, Waiting("hold", "end of the hold")
    seen = [r for r in readings if r.ts <= t]
    if not seen:
        return False, Waiting("no_gravity", "waiting for a gravity reading")
    latest = seen[-1]
    if t - latest.ts > max_age_s:
        return False, Waiting(
            "stale", f"gravity reading is stale (last {_duration(t - latest.ts)} ago); waiting"
        )
    if latest.problem is not None:
        return False, Waiting("untrusted", f"gravity reading not trusted: {latest.problem}")
    if cond.type == ConditionType.stable:
        return _stable(cond, seen, t)
    if cond.type == ConditionType.attenuation:
        og = cond.original_gravity or run.original_gravity
        if og is None or og <= 1.0:
            return False, Waiting("no_og", "no original gravity to measure attenuation from")

        def value(r: GravityReading) -> float:
            return (og - r.value) / (og - 1.0) * 100.0

        def ok(r: GravityReading) -> bool:
            return value(r) >= cond.percent  # type: ignore[operator]

        shown = f"attenuation {value(latest):.0f} %, waiting for ≥ {cond.percent:g} %"
    else:

        def ok(r: GravityReading) -> bool:
            return r.value <= cond.gravity  # type: ignore[operator]

        shown = f"gravity {latest.value:.3f}, waiting for ≤ {cond.gravity:.3f}"
    last = seen[-CONFIRM_READINGS:]
    agree = len(last) == CONFIRM_READINGS and all(
        r.problem is None and t - r.ts <= max_age_s and ok(r) for r in last
    )
    if agree:
        return True, Waiting("met", shown)
    if ok(latest):
        return False, Waiting(
            "confirming", f"{shown} (confirming over {CONFIRM_READINGS} readings)"
        )
    return False, Waiting("gravity", shown)


def _stable(cond: StepCondition, seen: Sequence[GravityReading], t: float) -> tuple[bool, Waiting]:
    """Stable: the mean of the window's last quarter is within `delta` of its first
    quarter's, and the readings are not noisier than `delta` (a hydrometer whose noise
    hides a drift of `delta` cannot say the gravity is stable)."""
    window = cond.hours * 3600.0  # type: ignore[operator]
    good = [r for r in seen if r.ts >= t - window and r.problem is None]
    needed = max(8, math.ceil(cond.hours * READINGS_PER_HOUR))  # type: ignore[operator]
    span = good[-1].ts - good[0].ts if good else 0.0
    if len(good) < needed or span < 0.9 * window:
        return False, Waiting(
            "few_readings",
            f"gravity stable: {len(good)} good readings over {_duration(span)}, "
            f"needs {needed} over {cond.hours:g} h",
        )
    quarter = max(2, len(good) // 4)
    first = [r.value for r in good[:quarter]]
    last = [r.value for r in good[-quarter:]]
    drift = abs(sum(first) / len(first) - sum(last) / len(last))
    noise = max(_spread(first), _spread(last))
    if noise >= cond.delta:  # type: ignore[operator]
        return False, Waiting(
            "noisy", f"gravity too noisy to judge stable (± {noise:.4f}, needs < {cond.delta:g})"
        )
    if drift < cond.delta:  # type: ignore[operator]
        return True, Waiting("met", f"gravity stable ({drift:.4f} over {cond.hours:g} h)")
    return False, Waiting(
        "changing",
        f"gravity moved {drift:.4f} over {cond.hours:g} h (stable below {cond.delta:g})",
    )


def _spread(values: Sequence[float]) -> float:
    """Standard deviation (the readings' noise within a quarter of the window)."""
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / max(1, len(values) - 1))


def evaluate(
    profile: Profile,
    run: ProfileRun,
    now: float,
    pv: float | None,
    readings: Sequence[GravityReading] = (),
    max_age_s: float = MAX_AGE_S,
) -> StepResult:
    """Where the run is at `now`: the setpoint in force, the run moved on if it did, and
    what happened on the way (several steps may pass in one call: a zero-length hold)."""
    steps = profile.steps or []
    if not steps:
        return StepResult(None, run)
    if run.paused_at is not None:  # frozen where it was paused: no transition
        return _at(profile, run, run.paused_at, pv, readings, max_age_s, frozen=True)
    return _at(profile, run, now, pv, readings, max_age_s, frozen=False)


def _at(
    profile: Profile,
    run: ProfileRun,
    t: float,
    pv: float | None,
    readings: Sequence[GravityReading],
    max_age_s: float,
    frozen: bool,
) -> StepResult:
    steps = profile.steps or []
    original = run
    events: list[StepEvent] = []
    if run.step is None:  # a run started before the profile had steps (edited)
        run = _enter(run, profile, 0, t, None)
    if not frozen and run.original_gravity is None:
        good = [r for r in readings if r.problem is None and r.ts <= t]
        if good:
            run = run.model_copy(update={"original_gravity": round(good[0].value, 4)})
    waiting: Waiting | None = None
    for _ in range(len(steps) + 1):
        index = run.step or 0
        if index >= len(steps):
            return StepResult(
                steps[-1].temperature, run, tuple(events), None, True, run != original
            )
        step = steps[index]
        name = label(profile, index)
        if (
            not frozen
            and run.ramp_from is None
            and step.ramp is not None
            and step.temperature is not None
            and pv is not None
            and run.reached_at is None
        ):
            run = run.model_copy(update={"ramp_from": round(pv, 3)})  # the ramp starts here
        sp, ramp_end = _ramp_setpoint(step, run, t)
        if run.reached_at is None:
            target = step.temperature
            if frozen or t < ramp_end:
                return StepResult(
                    sp,
                    run,
                    tuple(events),
                    Waiting("ramp", f"ramping to {_c(target)}"),
                    False,
                    run != original,
                )
            if target is not None and (pv is None or abs(pv - target) > step.tolerance):
                return StepResult(
                    sp,
                    run,
                    tuple(events),
                    Waiting("reach", f"heading for {_c(target)}"),
                    False,
                    run != original,
                )
            run = run.model_copy(update={"reached_at": t})
            if target is not None:
                held = f"; holding {_duration(step.hold_s)}" if step.hold_s else ""
                events.append(
                    StepEvent("reached", index, name, f"{name}: reached {_c(target)}{held}")
                )
        assert run.reached_at is not None
        hold_end = run.reached_at + step.hold_s + run.extra_s
        if t < hold_end:
            return StepResult(
                sp,
                run,
                tuple(events),
                Waiting("hold", f"holding {_c(step.temperature)}"),
                False,
                run != original,
            )
        cond = step.until
        met, waiting = _condition(cond, run, readings, t, max_age_s)
        limit_hit = cond.limit_s is not None and t >= run.reached_at + cond.limit_s + run.extra_s
        if not met and not limit_hit:
            if frozen:
                return StepResult(sp, run, tuple(events), waiting, False, run != original)
            if run.waiting_since is None:
                run = run.model_copy(update={"waiting_since": t})
                events.append(
                    StepEvent(
                        "waiting",
                        index,
                        name,
                        f"{name}: {waiting.text}",
                        confirm=(cond.prompt or "Confirm")
                        if cond.type == ConditionType.confirm
                        else None,
                    )
                )
            return StepResult(sp, run, tuple(events), waiting, False, run != original)
        if frozen:
            return StepResult(sp, run, tuple(events), waiting, False, run != original)
        why = waiting.text if met else f"time limit {_duration(cond.limit_s or 0)} reached"
        run = _enter(run, profile, index + 1, t, step.temperature)
        if index + 1 >= len(steps):
            events.append(
                StepEvent(
                    "finished",
                    index,
                    name,
                    f"{profile.name or profile.id} finished ({why}); holding {_c(step.temperature)}",
                )
            )
        else:
            nxt = steps[index + 1]
            events.append(
                StepEvent(
                    "started",
                    index + 1,
                    label(profile, index + 1),
                    f"{label(profile, index + 1)} started ({name}: {why}); target {_c(nxt.temperature)}",
                )
            )
    raise AssertionError("unreachable: every pass moves on a step or returns")


# --- what the dashboard shows ---------------------------------------------------------------


def expected_seconds(profile: Profile, start_c: float | None = None) -> float:
    """The schedule's length if every target were reached at once and every condition met at
    the end of its hold: ramps + holds (the preview's 'expected duration')."""
    total, previous = 0.0, start_c
    for step in profile.steps or []:
        total += ramp_seconds(step, previous) + step.hold_s
        previous = step.temperature if step.temperature is not None else previous
    return total


def progress(profile: Profile, run: ProfileRun, now: float, result: StepResult) -> ProfileProgress:
    steps = profile.steps or []
    t = run.paused_at if run.paused_at is not None else now
    index = min(run.step or 0, len(steps))
    finished = index >= len(steps)
    step = steps[min(index, len(steps) - 1)]
    hold_left: float | None = None
    remaining = 0.0
    if not finished:
        if run.reached_at is not None:
            hold_left = max(0.0, run.reached_at + step.hold_s + run.extra_s - t)
            remaining = hold_left
        else:
            started = run.step_started_at if run.step_started_at is not None else t
            ramp_left = max(0.0, started + ramp_seconds(step, run.ramp_from) - t)
            remaining = ramp_left + step.hold_s + run.extra_s
        previous = step.temperature
        for later in steps[index + 1 :]:
            remaining += ramp_seconds(later, previous) + later.hold_s
            previous = later.temperature if later.temperature is not None else previous
    nxt = steps[index + 1] if index + 1 < len(steps) else None
    waits = result.waiting if result.waiting and result.waiting.code not in ("hold",) else None
    cond = step.until
    asks = (
        (cond.prompt or "Confirm")
        if not finished and cond.type == ConditionType.confirm and not run.confirmed
        else None
    )
    return ProfileProgress(
        profile=profile.id,
        name=profile.name,
        step=index,
        steps=len(steps),
        elapsed_s=t - run.started_at,
        remaining_s=remaining,
        next_setpoint=nxt.temperature if nxt else None,
        next_at=(t + hold_left) if hold_left is not None and nxt is not None else None,
        paused=run.paused_at is not None,
        finished=finished,
        step_name=label(profile, index) if not finished else None,
        target=step.temperature,
        reached_at=run.reached_at if not finished else None,
        hold_remaining_s=hold_left,
        waiting_for=None if finished or waits is None else waits.text,
        confirm=asks,
    )
