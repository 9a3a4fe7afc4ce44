"""Temperature profiles: where a running profile is, and what setpoint it asks for.

BrewPi's beer-profile rule: between two points the setpoint moves linearly;
before the first point it is the first point's temperature, after the last it
is the last one's (held). With `step` interpolation each point's temperature
holds until the next point. A point whose temperature is null switches control
off until the next point.

A run is anchored at `started_at` (Unix time of offset 0). Pausing records
`paused_at`; resuming shifts `started_at` by the pause, so the profile continues
where it stopped. Both live in the loop's configuration, so the position survives
a restart of any service. Profiles with dates (`at`) are anchored at their first
date: they run at their dates, whenever they are started.

Pure functions, shared by the controller and the API.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from services.common.schema.config import Interpolation, Profile, ProfileRun
from services.common.schema.state import ProfileProgress


@dataclass(frozen=True)
class Schedule:
    """A profile flattened to offsets (s) and temperatures, ready for fast lookups."""

    profile: Profile
    offsets: tuple[float, ...]
    temperatures: tuple[float | None, ...]
    anchor: float | None  # absolute profiles: Unix time of the first point

    @classmethod
    def of(cls, profile: Profile) -> Schedule:
        """Point profiles only (step profiles: services/common/programs.py)."""
        points = profile.points
        assert points is not None, "a step profile has no point schedule"
        if points[0].at is not None:
            anchor = points[0].at.timestamp()
            offsets = tuple(p.at.timestamp() - anchor for p in points)  # type: ignore[union-attr]
        else:
            anchor = None
            offsets = tuple(float(p.offset or 0.0) for p in points)
        return cls(profile, offsets, tuple(p.temperature for p in points), anchor)

    def temperature(self, run: ProfileRun, now: float) -> float | None:
        """The setpoint this run asks for at `now` (None: control off)."""
        return self.setpoint(elapsed_in(run, now))

    @property
    def duration(self) -> float:
        return self.offsets[-1]

    def setpoint(self, elapsed: float) -> float | None:
        """The setpoint `elapsed` seconds after offset 0 (None: control off)."""
        offsets, temps = self.offsets, self.temperatures
        i = bisect.bisect_right(offsets, elapsed) - 1  # index of the point last passed
        if i < 0:
            return temps[0]
        if i >= len(offsets) - 1:
            return temps[-1]
        here, there = temps[i], temps[i + 1]
        if here is None or there is None or self.profile.interpolation == Interpolation.step:
            return here
        frac = (elapsed - offsets[i]) / (offsets[i + 1] - offsets[i])
        return here + (there - here) * frac

    def start(self, now: float, offset: float = 0.0) -> ProfileRun:
        """A run beginning `offset` s into the profile (absolute profiles: at their dates)."""
        started = self.anchor if self.anchor is not None else now - offset
        return ProfileRun(profile=self.profile.id, started_at=started)

    def progress(self, run: ProfileRun, now: float) -> ProfileProgress:
        elapsed = elapsed_in(run, now)
        i = bisect.bisect_right(self.offsets, elapsed) - 1
        step = max(0, i)
        nxt = i + 1 if i + 1 < len(self.offsets) else None
        return ProfileProgress(
            profile=self.profile.id,
            name=self.profile.name,
            step=step,
            steps=len(self.offsets),
            elapsed_s=elapsed,
            remaining_s=max(0.0, self.duration - elapsed),
            next_setpoint=self.temperatures[nxt] if nxt is not None else None,
            next_at=run.started_at + self.offsets[nxt] if nxt is not None else None,
            # To the minute: a sensor showing it must not change with every publish.
            ends_at=None
            if run.paused_at is not None
            else round((run.started_at + self.duration) / 60.0) * 60.0,
            paused=run.paused_at is not None,
            finished=elapsed >= self.duration,
        )


def elapsed_in(run: ProfileRun, now: float) -> float:
    return (run.paused_at if run.paused_at is not None else now) - run.started_at


def pause(run: ProfileRun, now: float) -> ProfileRun:
    if run.paused_at is not None:
        return run
    return run.model_copy(update={"paused_at": now})


def resume(run: ProfileRun, now: float) -> ProfileRun:
    if run.paused_at is None:
        return run
    pause_s = now - run.paused_at
    update: dict[str, float | None] = {"started_at": run.started_at + pause_s, "paused_at": None}
    for name in ("step_started_at", "reached_at", "waiting_since"):  # step profiles
        value = getattr(run, name)
        if value is not None:
            update[name] = value + pause_s
    return run.model_copy(update=update)


def jump(run: ProfileRun, now: float, offset: float) -> ProfileRun:
    """Move the run to `offset` s into the profile, keeping it paused if it was."""
    paused = run.paused_at is not None
    return run.model_copy(update={"started_at": now - offset, "paused_at": now if paused else None})
