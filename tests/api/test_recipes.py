"""`POST /api/profiles/import` (BeerJSON 1.0, BeerXML 1.0) and
`GET /api/profiles/{id}/beerjson`: real recipes become step profiles; bad documents
get 4xx and leave nothing behind; export → import round-trips."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from services.api.recipes import beerjson
from services.common.schema.config import Profile, ProfileStep, Ramp, StepCondition

RECIPES = Path(__file__).with_name("recipes")


def steps_of(profile: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (
            s["name"],
            s["temperature"],
            s["hold_s"],
            (s["ramp"] or {}).get("duration_s"),
            s["until"]["type"],
        )
        for s in profile["steps"]
    ]


async def imported(api: TestClient, name: str, content_type: str) -> dict[str, Any]:
    resp = await api.post(
        "/api/profiles/import",
        data=(RECIPES / name).read_bytes(),
        headers={"Content-Type": content_type},
    )
    body = await resp.json()
    assert resp.status == 201, body
    return body


async def profile_ids(api: TestClient) -> list[str]:
    return [p["id"] for p in await (await api.get("/api/profiles")).json()]


async def test_a_beerxml_recipe_from_beersmith(api: TestClient) -> None:
    body = await imported(api, "kolsch.beerxml.xml", "text/xml")
    assert body["recipe"] == "Lloyd's Krispy Kolsch"
    mash, ferm = body["profiles"]
    assert (mash["id"], mash["kind"]) == ("lloyd-s-krispy-kolsch-mash", "mash")
    assert steps_of(mash) == [
        ("Saccharification", 65.56, 5400.0, 600.0, "time"),
        ("Mash Out", 75.56, 600.0, 420.0, "time"),
    ]
    assert ferm["kind"] == "fermentation"
    # FERMENTATION_STAGES 2: primary 14 days at 18 °C, secondary 4 days at 0 °C
    assert steps_of(ferm) == [
        ("Primary", 18.0, 14 * 86400.0, None, "time"),
        ("Secondary", 0.0, 4 * 86400.0, None, "time"),
    ]
    assert set(await profile_ids(api)) >= {mash["id"], ferm["id"]}


async def test_a_beerjson_decoction_mash_in_fahrenheit(api: TestClient) -> None:
    body = await imported(api, "pilsner-decoction-f.json", "application/json")
    mash, ferm = body["profiles"]
    assert steps_of(mash) == [
        ("Acid rest", 35.0, 1200.0, None, "confirm"),
        ("Protein rest", 55.0, 1200.0, 900.0, "confirm"),
        ("Saccharification", 65.0, 3600.0, 1200.0, "confirm"),
        ("Mash out", 75.56, 600.0, None, "time"),
    ]
    # each rest before a decoction waits for the brewer to bring the decoction back
    assert mash["steps"][0]["until"]["prompt"] == (
        "Protein rest: pull the decoction, boil it and return it, then confirm"
    )
    primary, rest, lagering = ferm["steps"]
    assert primary["temperature"] == 10.0 and primary["until"] == {
        **primary["until"],
        "type": "gravity",
        "gravity": 1.0157,  # 4 °P
        "limit_s": 10 * 86400.0,
    }
    assert (rest["temperature"], rest["ramp"]["duration_s"], rest["hold_s"]) == (
        15.56,
        2 * 86400.0,
        0,
    )
    assert (lagering["temperature"], lagering["hold_s"]) == (1.11, 28 * 86400.0)


async def test_a_beerjson_mash_record_and_ids_made_unique(api: TestClient) -> None:
    first = await imported(api, "two-step-sparge.json", "application/json")
    (mash,) = first["profiles"]
    assert mash["id"] == "two-step-temperature-68c-mash"
    assert steps_of(mash)[-1] == ("Batch sparge", 74.0, 600.0, None, "time")
    again = await imported(api, "two-step-sparge.json", "application/json")
    assert again["profiles"][0]["id"] == "two-step-temperature-68c-mash-2"


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<RECIPES><RECIPE><NAME>&lol9;</NAME><MASH><MASH_STEPS><MASH_STEP>
<NAME>x</NAME><STEP_TEMP>66</STEP_TEMP><STEP_TIME>60</STEP_TIME>
</MASH_STEP></MASH_STEPS></MASH></RECIPE></RECIPES>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<RECIPES><RECIPE><NAME>&x;</NAME></RECIPE></RECIPES>"""


def bad_unit() -> bytes:
    doc = json.loads((RECIPES / "two-step-sparge.json").read_text())
    doc["beerjson"]["mashes"][0]["mash_steps"][1]["step_temperature"]["unit"] = "K"
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    ("content_type", "body", "status", "element"),
    [
        ("text/xml", BILLION_LAUGHS, 422, "document"),
        ("application/xml", EXTERNAL_ENTITY, 422, "document"),
        ("application/xml", b"<RECIPES><RECIPE><NAME>x</RECIPE>", 422, "line 1"),
        (
            "application/xml",
            b"<RECIPES><RECIPE><NAME>x</NAME><MASH><MASH_STEPS><MASH_STEP><NAME>a</NAME>"
            b"<STEP_TEMP>hot</STEP_TEMP><STEP_TIME>60</STEP_TIME></MASH_STEP></MASH_STEPS>"
            b"</MASH></RECIPE></RECIPES>",
            422,
            "RECIPES/RECIPE[1]/MASH/MASH_STEPS/MASH_STEP[1]/STEP_TEMP",
        ),
        (
            "application/json",
            bad_unit(),
            422,
            "beerjson/mashes/0/mash_steps/1/step_temperature/unit",
        ),
        ("application/json", b'{"beerjson": {"version": 1}}', 422, "beerjson"),
        ("application/json", b'{"beerjson": ', 400, None),
        ("application/json", b"[" * 100 + b"]" * 100, 422, "document"),
        ("application/json", b'{"x": "' + b"a" * 600_000 + b'"}', 413, None),
        ("text/csv", b"a,b", 415, None),
    ],
    ids=[
        "billion-laughs",
        "external-entity",
        "malformed-xml",
        "not-a-number",
        "schema-invalid",
        "nothing-to-import",
        "malformed-json",
        "not-an-object",
        "oversized",
        "wrong-type",
    ],
)
async def test_bad_documents_are_refused_and_nothing_is_stored(
    api: TestClient, content_type: str, body: bytes, status: int, element: str | None
) -> None:
    before = await profile_ids(api)
    resp = await api.post("/api/profiles/import", data=body, headers={"Content-Type": content_type})
    answer = await resp.json()
    assert resp.status == status, answer
    assert answer["error"]
    if element is not None:
        assert answer["detail"]["element"] == element, answer
    assert await profile_ids(api) == before


async def test_export_as_beerjson_round_trips(api: TestClient) -> None:
    body = await imported(api, "kolsch.beerxml.xml", "text/xml")
    for profile in body["profiles"]:
        resp = await api.get(f"/api/profiles/{profile['id']}/beerjson")
        assert resp.status == 200
        document = await resp.json()
        again = await api.post("/api/profiles/import", json=document)
        (copy,) = (await again.json())["profiles"]
        assert steps_of(copy) == steps_of(profile) and copy["kind"] == profile["kind"]


async def test_a_point_profile_does_not_export_as_beerjson(
    api: TestClient, fermenter: dict[str, Any]
) -> None:
    resp = await api.get("/api/profiles/ale/beerjson")
    assert resp.status == 422 and "step profiles" in (await resp.json())["detail"]["message"]


temperatures = st.integers(0, 1000).map(lambda t: t / 10)  # 0.0 … 100.0 °C, 0.1 °C steps
minutes = st.integers(1, 600).map(lambda m: m * 60.0)
mash_steps = st.builds(
    ProfileStep,
    name=st.text("abcdefgh ", min_size=1, max_size=12).map(str.strip).filter(bool),
    temperature=temperatures,
    hold_s=minutes,
    ramp=st.one_of(st.none(), minutes.map(lambda s: Ramp(duration_s=s))),
)
ferm_steps = st.one_of(
    st.builds(ProfileStep, name=st.just("hold"), temperature=temperatures, hold_s=minutes),
    st.builds(
        ProfileStep,
        name=st.just("ramp"),
        temperature=temperatures,
        ramp=minutes.map(lambda s: Ramp(duration_s=s)),
    ),
    st.builds(
        ProfileStep,
        name=st.just("to gravity"),
        temperature=temperatures,
        until=st.builds(
            StepCondition,
            type=st.just("gravity"),
            gravity=st.integers(990, 1100).map(lambda g: g / 1000),
            limit_s=minutes,
        ),
    ),
    st.builds(ProfileStep, name=st.just("free rise"), temperature=st.none(), hold_s=minutes),
)


def _canonical(steps: list[ProfileStep]) -> list[ProfileStep]:
    """A fermentation ramp from a temperature to itself, or from nowhere (no target before
    it), is a hold: BeerJSON can't tell them apart."""
    out, previous = [], None
    for step in steps:
        if step.ramp is not None and previous in (None, step.temperature):
            step = step.model_copy(update={"ramp": None, "hold_s": step.ramp.duration_s})
        out.append(step)
        previous = step.temperature if step.temperature is not None else previous
    return out


@settings(max_examples=80, deadline=None)
@given(
    kind=st.sampled_from(["mash", "fermentation"]),
    mash=st.lists(mash_steps, min_size=1, max_size=6),
    ferm=st.lists(ferm_steps, min_size=1, max_size=6),
)
def test_export_then_import_gives_the_same_steps(
    kind: str, mash: list[ProfileStep], ferm: list[ProfileStep]
) -> None:
    steps = mash if kind == "mash" else _canonical(ferm)
    profile = Profile(id="p", name="Round trip", kind=kind, steps=steps)
    (back,) = beerjson.import_document(beerjson.export_profile(profile)).profiles
    assert back.kind == profile.kind and back.name == profile.name
    assert [s.model_dump(exclude={"name"}) for s in back.steps] == [
        s.model_dump(exclude={"name"}) for s in steps
    ]
