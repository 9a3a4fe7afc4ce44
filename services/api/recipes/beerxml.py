"""BeerXML 1.0: `RECIPES/RECIPE` with its `MASH` and its fermentation ages and temperatures.

Parsed with defusedxml: a DTD with entities (the "billion laughs"), external entities
and external DTDs are refused before anything is expanded. BeerXML's values are
metric by its specification (°C, minutes for mash steps, days for ages); its
`DISPLAY_…` fields are for people and are ignored.
"""

from __future__ import annotations

from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from services.common.schema.config import (
    ConditionType,
    Profile,
    ProfileKind,
    ProfileStep,
    Ramp,
    StepCondition,
)

from . import Imported, RecipeError, slug
from .beerjson import DECOCTION_PROMPT, _step

STAGES = ("PRIMARY", "SECONDARY", "TERTIARY")


def parse(raw: bytes) -> Element:
    try:
        return fromstring(raw, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise RecipeError(
            "document", f"refused: {type(exc).__name__} (entities are not allowed)"
        ) from None
    except ParseError as exc:
        raise RecipeError(f"line {exc.position[0]}", f"not well-formed XML: {exc}") from None


def _text(element: Element, tag: str) -> str | None:
    child = element.find(tag)
    if child is None or child.text is None or not child.text.strip():
        return None
    return child.text.strip()


def _number(element: Element, tag: str, where: str, required: bool = True) -> float | None:
    text = _text(element, tag)
    if text is None:
        if required:
            raise RecipeError(f"{where}/{tag}", "missing")
        return None
    try:
        value = float(text)
    except ValueError:
        raise RecipeError(f"{where}/{tag}", f"{text[:40]!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise RecipeError(f"{where}/{tag}", "not a finite number")
    return value


def mash(element: Element, where: str) -> list[ProfileStep]:
    steps: list[ProfileStep] = []
    container = element.find("MASH_STEPS")
    raw_steps = container.findall("MASH_STEP") if container is not None else []
    if not raw_steps:
        raise RecipeError(f"{where}/MASH_STEPS", "no MASH_STEP")
    for i, raw in enumerate(raw_steps):
        at = f"{where}/MASH_STEPS/MASH_STEP[{i + 1}]"
        name = _text(raw, "NAME") or f"Step {i + 1}"
        if (_text(raw, "TYPE") or "").lower() == "decoction" and steps:
            steps[-1] = steps[-1].model_copy(
                update={
                    "until": StepCondition(
                        type=ConditionType.confirm, prompt=DECOCTION_PROMPT.format(name=name)
                    )
                }
            )
        ramp_min = _number(raw, "RAMP_TIME", at, required=False) or 0.0
        steps.append(
            _step(
                at,
                name=name,
                temperature=round(_number(raw, "STEP_TEMP", at), 2),  # type: ignore[arg-type]
                hold_s=(_number(raw, "STEP_TIME", at) or 0.0) * 60.0,
                ramp=Ramp(duration_s=ramp_min * 60.0) if ramp_min > 0 else None,
            )
        )
    return steps


def fermentation(recipe: Element, where: str) -> list[ProfileStep]:
    stages = _number(recipe, "FERMENTATION_STAGES", where, required=False)
    count = int(stages) if stages is not None else len(STAGES)
    steps = []
    for stage in STAGES[: max(0, min(count, len(STAGES)))]:
        days = _number(recipe, f"{stage}_AGE", where, required=False)
        temp = _number(recipe, f"{stage}_TEMP", where, required=False)
        if days is None or temp is None or days <= 0:
            continue
        steps.append(
            _step(
                f"{where}/{stage}_TEMP",
                name=stage.title(),
                temperature=round(temp, 2),
                hold_s=days * 86_400.0,
            )
        )
    return steps


def import_document(raw: bytes) -> Imported:
    root = parse(raw)
    recipes = [root] if root.tag == "RECIPE" else root.findall("RECIPE")
    if root.tag not in ("RECIPES", "RECIPE"):
        raise RecipeError(root.tag, "a BeerXML document is RECIPES (or one RECIPE)")
    if not recipes:
        raise RecipeError("RECIPES", "no RECIPE")
    profiles: list[Profile] = []
    title = ""
    for r, recipe in enumerate(recipes):
        where = f"RECIPES/RECIPE[{r + 1}]"
        name = _text(recipe, "NAME") or f"Recipe {r + 1}"
        title = title or name
        mash_element = recipe.find("MASH")
        if mash_element is not None:
            profiles.append(
                Profile(
                    id=f"{slug(name)}-mash",
                    name=f"{name} — mash",
                    kind=ProfileKind.mash,
                    steps=mash(mash_element, f"{where}/MASH"),
                )
            )
        steps = fermentation(recipe, where)
        if steps:
            profiles.append(
                Profile(
                    id=f"{slug(name)}-fermentation",
                    name=f"{name} — fermentation",
                    kind=ProfileKind.fermentation,
                    steps=steps,
                )
            )
    if not profiles:
        raise RecipeError("RECIPES", "no MASH or fermentation ages to import")
    return Imported(title, profiles)
