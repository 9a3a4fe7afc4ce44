"""A loop's watchdog settings (`Loop.watchdogs`): the alarms that tell a brewer something
is wrong long before it is dangerous — the beer out of its band, a device gone silent,
a program step that cannot advance (services/controller/watchdogs.py, docs/notifications.md).

Every field may be null: the loop kind's default (`WATCHDOG_DEFAULTS`) applies; 0
switches that watchdog off.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from .base import Strict

MAX_WAIT_S = 60 * 86_400.0
"""Two months: any longer is a typo (and a watchdog that never barks)."""

Duration = Annotated[float, Field(ge=0.0, le=MAX_WAIT_S)]


class Watchdogs(Strict):
    band_c: float | None = Field(
        None,
        ge=0,
        le=50,
        description="Band around the setpoint, ± °C. Once the loop has reached its setpoint, "
        "being outside it for band_s raises `<loop>-band` (never during a ramp or heat-up).",
    )
    band_s: Duration | None = Field(
        None, description="Outside the band this long raises the alarm, s."
    )
    silent_reports: int | None = Field(
        None,
        ge=0,
        le=100,
        description="A device the loop reads (its probe, its hydrometer) that missed this many "
        "of its reports (its interval is learned from its readings) raises `<loop>-silent-<device>`.",
    )
    silent_min_s: Duration | None = Field(
        None, description="…but never before this long without a report, s."
    )
    step_wait_s: Duration | None = Field(
        None,
        description="A program step waiting for its condition (gravity, attenuation, the brewer's "
        "confirmation) longer than this raises `<loop>-stuck`; a 'stable' condition gets its "
        "own window on top, s.",
    )
    step_reach_s: Duration | None = Field(
        None,
        description="A program step whose target is not reached this long after its planned "
        "ramp ends raises `<loop>-stuck`, s.",
    )


HOUR = 3600.0
WATCHDOG_DEFAULTS: dict[str, Watchdogs] = {
    # 20 L of beer moves slowly (τ ≈ 5 h): a degree off for half an hour is a fridge that
    # stopped, a heat wave or a door left open — worth a message, not a siren. An iSpindel
    # missing three reports (45 min) has a flat battery or has lost Wi-Fi. A gravity
    # condition unmet two days after its hold: a stuck fermentation.
    "fermenter": Watchdogs(
        band_c=1.0,
        band_s=1800.0,
        silent_reports=3,
        silent_min_s=600.0,
        step_wait_s=48 * HOUR,
        step_reach_s=24 * HOUR,
    ),
    # A mash rest 1.5 °C off for 10 min changes the beer (beta amylase); a step that has
    # not reached its target 90 min after its ramp is an element or a breaker that failed;
    # a brewer not confirming "dough in" for 30 min has forgotten the kettle.
    "kettle": Watchdogs(
        band_c=1.5,
        band_s=600.0,
        silent_reports=3,
        silent_min_s=60.0,
        step_wait_s=1800.0,
        step_reach_s=90 * 60.0,
    ),
    "other": Watchdogs(
        band_c=2.0,
        band_s=1800.0,
        silent_reports=3,
        silent_min_s=300.0,
        step_wait_s=24 * HOUR,
        step_reach_s=24 * HOUR,
    ),
}
"""Per loop kind (`LoopKind` values); kept equal to webui/js/ui/data.js by a test."""


def merged(own: Watchdogs, kind: str) -> Watchdogs:
    """Every setting, the kind's default where `own` has none."""
    defaults = WATCHDOG_DEFAULTS.get(kind, WATCHDOG_DEFAULTS["other"])
    return Watchdogs(**{**defaults.model_dump(), **own.model_dump(exclude_none=True)})
