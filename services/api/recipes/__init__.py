"""Recipes in, step profiles out: BeerJSON 1.0 (validated against its published schema,
vendored in `schema/` with its MIT licence) and BeerXML 1.0 (parsed with defusedxml,
which refuses entity expansion and external entities).

What a recipe says and what becomes of it (docs/programs.md):

- a **mash** procedure (BeerJSON `mash.mash_steps`, BeerXML `MASH/MASH_STEPS/MASH_STEP`)
  becomes a `mash` step profile: each step's temperature (`step_temperature`,
  `STEP_TEMP`), its rest (`step_time`, `STEP_TIME` minutes) counted from the moment
  it is reached, and its ramp (`ramp_time`, `RAMP_TIME`) when it has one. A
  **decoction** step makes the rest before it wait for the brewer ("return the boiled
  decoction, then confirm"): the kettle cannot pull a decoction by itself.
  `end_temperature` (the temperature the mash drifts to) is not a target: not used.
- a **fermentation** procedure (BeerJSON `fermentation.fermentation_steps`) becomes a
  `fermentation` step profile: `end_temperature` (else `start_temperature`) is the
  target; a step whose start and end differ ramps over its `step_time`, otherwise it
  holds for it; `free_rise` is control off; `end_gravity` makes the step advance on
  gravity, with `step_time` as its time limit. BeerXML has no steps: its
  `PRIMARY_/SECONDARY_/TERTIARY_AGE` (days) and `…_TEMP` (°C), as many as
  `FERMENTATION_STAGES` says, become one hold each.

Units are converted: °F → °C, sec/min/hr/day/week → s, °Plato/°Brix → SG.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from services.common.schema.config import Profile

MAX_DOCUMENT_BYTES = 512 * 1024
"""A recipe document larger than this is refused (413): real ones are a few kB."""


class RecipeError(ValueError):
    """A document that cannot be imported; `where` names the element."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where
        self.message = message


@dataclass(frozen=True)
class Imported:
    """The profiles one document describes, not stored yet (ids still to be chosen)."""

    recipe: str
    profiles: list[Profile]


def slug(text: str, fallback: str = "recipe") -> str:
    """An id from a recipe name: 'Lloyd's Krispy Kölsch' → 'lloyd-s-krispy-k-lsch'."""
    text = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return text[:40].strip("-") or fallback
