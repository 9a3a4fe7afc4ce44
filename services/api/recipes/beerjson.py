"""BeerJSON 1.0: validate against the published schema, import procedures, export one."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator
from pydantic import ValidationError
from referencing import Registry, Resource

from services.common.schema.config import (
    ConditionType,
    Profile,
    ProfileKind,
    ProfileStep,
    Ramp,
    StepCondition,
)

from . import Imported, RecipeError, slug

SCHEMA_DIR = Path(__file__).with_name("schema")
SECONDS = {"sec": 1, "min": 60, "hr": 3600, "day": 86_400, "week": 7 * 86_400}
DECOCTION_PROMPT = "{name}: pull the decoction, boil it and return it, then confirm"


@cache
def validator() -> Draft7Validator:
    """The BeerJSON root schema with every vendored file registered under its `$id`."""
    resources = []
    for path in sorted(SCHEMA_DIR.glob("*.json")):
        contents = json.loads(path.read_text(encoding="utf-8"))
        resources.append((contents["$id"], Resource.from_contents(contents)))
    registry: Registry = Registry().with_resources(resources)
    root = json.loads((SCHEMA_DIR / "beer.json").read_text(encoding="utf-8"))
    return Draft7Validator(root, registry=registry)


def _where(path: Any) -> str:
    return "/".join(str(p) for p in path) or "document"


def validate(document: Any) -> None:
    """Raises RecipeError naming the first element that does not follow the schema."""
    errors = sorted(validator().iter_errors(document), key=lambda e: list(e.absolute_path))
    if errors:
        best = errors[0]
        raise RecipeError(_where(best.absolute_path), best.message[:300])


# --- units ---------------------------------------------------------------------------------


def celsius(value: dict[str, Any]) -> float:
    number = float(value["value"])
    c = (number - 32.0) * 5.0 / 9.0 if value["unit"] == "F" else number
    return round(c, 2)


def seconds(value: dict[str, Any]) -> float:
    return float(value["value"]) * SECONDS[value["unit"]]


def specific_gravity(value: dict[str, Any]) -> float:
    number = float(value["value"])
    if value["unit"] == "sg":
        return round(number, 4)
    return round(1.0 + number / (258.6 - number / 258.2 * 227.1), 4)  # °P ≈ °Brix here


def time_value(s: float) -> dict[str, Any]:
    """Seconds as a BeerJSON TimeType (its value is an integer): the largest exact unit."""
    whole = round(s)
    for unit in ("week", "day", "hr", "min"):
        if whole and whole % SECONDS[unit] == 0:
            return {"unit": unit, "value": whole // SECONDS[unit]}
    return {"unit": "sec", "value": whole}


def temperature_value(c: float) -> dict[str, Any]:
    return {"unit": "C", "value": c}


# --- import ----------------------------------------------------------------------------------


def mash_steps(mash: dict[str, Any], where: str) -> list[ProfileStep]:
    steps: list[ProfileStep] = []
    for i, raw in enumerate(mash["mash_steps"]):
        name = raw.get("name") or f"Step {i + 1}"
        if raw.get("type") == "decoction" and steps:
            # the rest before a decoction waits for the brewer to bring it back
            steps[-1] = steps[-1].model_copy(
                update={
                    "until": StepCondition(
                        type=ConditionType.confirm, prompt=DECOCTION_PROMPT.format(name=name)
                    )
                }
            )
        ramp = seconds(raw["ramp_time"]) if "ramp_time" in raw else 0.0
        steps.append(
            _step(
                f"{where}/mash_steps/{i}",
                name=name,
                temperature=celsius(raw["step_temperature"]),
                hold_s=seconds(raw["step_time"]),
                ramp=Ramp(duration_s=ramp) if ramp > 0 else None,
            )
        )
    return steps


def fermentation_steps(fermentation: dict[str, Any], where: str) -> list[ProfileStep]:
    steps: list[ProfileStep] = []
    for i, raw in enumerate(fermentation["fermentation_steps"]):
        at = f"{where}/fermentation_steps/{i}"
        name = raw.get("name") or f"Step {i + 1}"
        start = celsius(raw["start_temperature"]) if "start_temperature" in raw else None
        end = celsius(raw["end_temperature"]) if "end_temperature" in raw else start
        length = seconds(raw["step_time"]) if "step_time" in raw else 0.0
        if raw.get("free_rise"):
            end = None
        elif end is None:
            raise RecipeError(at, "a step needs a start_temperature, end_temperature or free_rise")
        ramps = start is not None and end is not None and start != end and length > 0
        until = StepCondition()
        hold = 0.0 if ramps else length
        if "end_gravity" in raw:
            until = StepCondition(
                type=ConditionType.gravity,
                gravity=specific_gravity(raw["end_gravity"]),
                limit_s=length or None,
            )
            hold = 0.0
        steps.append(
            _step(
                at,
                name=name,
                temperature=end,
                hold_s=hold,
                ramp=Ramp(duration_s=length) if ramps and "end_gravity" not in raw else None,
                until=until,
            )
        )
    return steps


def _step(where: str, **fields: Any) -> ProfileStep:
    try:
        return ProfileStep(**fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise RecipeError(f"{where} ({field})", first["msg"]) from None


def import_document(document: Any) -> Imported:
    """Every mash and fermentation procedure of a validated document, as step profiles."""
    validate(document)
    root = document["beerjson"]
    found: list[tuple[str, str, ProfileKind, list[ProfileStep]]] = []  # id base, name, …
    title = ""
    for r, recipe in enumerate(root.get("recipes", [])):
        title = title or recipe["name"]
        if "mash" in recipe:
            where = f"beerjson/recipes/{r}/mash"
            steps = mash_steps(recipe["mash"], where)
            found.append((recipe["name"], f"{recipe['name']} — mash", ProfileKind.mash, steps))
        if "fermentation" in recipe:
            where = f"beerjson/recipes/{r}/fermentation"
            steps = fermentation_steps(recipe["fermentation"], where)
            name = f"{recipe['name']} — fermentation"
            found.append((recipe["name"], name, ProfileKind.fermentation, steps))
    for m, mash in enumerate(root.get("mashes", [])):
        steps = mash_steps(mash, f"beerjson/mashes/{m}")
        found.append((mash["name"], mash["name"], ProfileKind.mash, steps))
    for f, ferm in enumerate(root.get("fermentations", [])):
        where = f"beerjson/fermentations/{f}"
        steps = fermentation_steps(ferm, where)
        found.append((ferm["name"], ferm["name"], ProfileKind.fermentation, steps))
    if not found:
        raise RecipeError("beerjson", "no mash or fermentation procedure to import")
    profiles = [
        Profile(id=f"{slug(base)}-{kind.value}", name=name, kind=kind, steps=steps)
        for base, name, kind, steps in found
    ]
    return Imported(title or found[0][1], profiles)


# --- export ----------------------------------------------------------------------------------


def export_profile(profile: Profile) -> dict[str, Any]:
    """A step profile as a BeerJSON document holding its mash or fermentation procedure.

    BeerJSON has no words for a confirmation, an attenuation or a stable gravity: those
    steps export as their temperatures and times only (a gravity condition exports as
    `end_gravity`, its time limit as `step_time`)."""
    if profile.steps is None:
        raise RecipeError("profile", "only step profiles export as BeerJSON (points: CSV)")
    name = profile.name or profile.id
    if profile.kind == ProfileKind.mash:
        steps = []
        for i, step in enumerate(profile.steps):
            if step.temperature is None:
                raise RecipeError(f"steps/{i}", "a mash step needs a temperature")
            out: dict[str, Any] = {
                "name": step.name or f"Step {i + 1}",
                "type": "temperature",
                "step_temperature": temperature_value(step.temperature),
                "step_time": time_value(step.hold_s),
            }
            if step.ramp is not None and step.ramp.duration_s is not None:
                out["ramp_time"] = time_value(step.ramp.duration_s)
            steps.append(out)
        body: dict[str, Any] = {
            "mashes": [
                {"name": name, "grain_temperature": temperature_value(20.0), "mash_steps": steps}
            ]
        }
    else:
        ferm: list[dict[str, Any]] = []
        previous: float | None = None
        for i, step in enumerate(profile.steps):
            label = step.name or f"Step {i + 1}"
            out = {"name": label}
            if step.temperature is None:
                out["free_rise"] = True
                out["step_time"] = time_value(step.hold_s)
            elif step.until.type == ConditionType.gravity and step.until.gravity is not None:
                out["start_temperature"] = temperature_value(step.temperature)
                out["end_temperature"] = temperature_value(step.temperature)
                out["end_gravity"] = {"unit": "sg", "value": step.until.gravity}
                if step.until.limit_s:
                    out["step_time"] = time_value(step.until.limit_s)
            elif step.ramp is not None and step.ramp.duration_s is not None:
                out["start_temperature"] = temperature_value(
                    previous if previous is not None else step.temperature
                )
                out["end_temperature"] = temperature_value(step.temperature)
                out["step_time"] = time_value(step.ramp.duration_s)
                if step.hold_s:  # BeerJSON: a ramp and a hold are two steps
                    ferm.append(out)
                    out = {
                        "name": f"{label} (hold)",
                        "start_temperature": temperature_value(step.temperature),
                        "end_temperature": temperature_value(step.temperature),
                        "step_time": time_value(step.hold_s),
                    }
            else:
                out["start_temperature"] = temperature_value(step.temperature)
                out["end_temperature"] = temperature_value(step.temperature)
                out["step_time"] = time_value(step.hold_s)
            ferm.append(out)
            previous = step.temperature if step.temperature is not None else previous
        body = {"fermentations": [{"name": name, "fermentation_steps": ferm}]}
    document = {"beerjson": {"version": 1.0, **body}}
    validate(document)  # what we write follows the schema too
    return document
