"""`/api/loops`: CRUD, references, racing edits, and REST commands."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.api.conftest import FERMENTER_DEVICE, FERMENTER_LOOP, create


async def test_two_racing_updates_one_wins_the_other_gets_409(
    api: TestClient, fermenter: dict[str, Any]
) -> None:
    read = fermenter
    first = {**read, "setpoint": 12.0}
    second = {**read, "setpoint": 22.0}
    responses = await asyncio.gather(
        api.put("/api/loops/fv1", json=first), api.put("/api/loops/fv1", json=second)
    )
    statuses = sorted(r.status for r in responses)
    assert statuses == [200, 409]
    winner = next(r for r in responses if r.status == 200)
    won = await winner.json()
    resp = await api.get("/api/loops/fv1")
    stored = await resp.json()
    assert stored["setpoint"] == won["setpoint"] and stored["version"] == read["version"] + 1
    loser = await next(r for r in responses if r.status == 409).json()
    assert loser["detail"]["field"] == "version"


async def test_racing_patches_with_versions(api: TestClient, fermenter: dict[str, Any]) -> None:
    v = fermenter["version"]
    a, b = await asyncio.gather(
        api.patch("/api/loops/fv1", json={"name": "one", "version": v}),
        api.patch("/api/loops/fv1", json={"window_s": 30, "version": v}),
    )
    assert sorted([a.status, b.status]) == [200, 409]


async def test_a_loop_must_name_real_io(api: TestClient, fermenter: dict[str, Any]) -> None:
    cases = [
        ({"sensor": {"device": "nope", "id": "beer"}}, "sensor.device"),
        ({"sensor": {"device": "ferm", "id": "wort"}}, "sensor.id"),
        ({"heater": {"device": "ferm", "id": "cooler"}, "cooler": None}, "heater.id"),
        ({"heater": {"device": "ferm", "id": "cooler"}}, "body"),  # heater = cooler
        ({"cooler": {"device": "ferm", "id": "fan"}}, "cooler.id"),
        ({"mode": "profile", "profile": {"profile": "lager", "started_at": 0}}, "profile.profile"),
    ]
    for change, field in cases:
        body = {**FERMENTER_LOOP, "id": "fv2", **change}
        resp = await api.post("/api/loops", json=body)
        data = await resp.json()
        assert resp.status == 422, data
        assert field in [d["field"] for d in data["detail"]], data


async def test_patch_merges_and_null_resets_to_default(
    api: TestClient, fermenter: dict[str, Any]
) -> None:
    resp = await api.patch(
        "/api/loops/fv1", json={"alarms": {"high": 24}, "pid": {"kp": 30, "ki": 0.02, "kd": 0}}
    )
    body = await resp.json()
    assert resp.status == 200, body
    assert body["alarms"]["high"] == 24 and body["alarms"]["stale_after_s"] == 30
    resp = await api.patch("/api/loops/fv1", json={"pid": None})
    assert (await resp.json())["pid"] is None


async def test_commands_to_an_unknown_loop_are_404(api: TestClient) -> None:
    resp = await api.post("/api/loops/ghost/setpoint", data="20")
    assert resp.status == 404


BAD_LOOPS: list[tuple[str, dict[str, Any], str]] = [
    ("no outputs", {"heater": None, "cooler": None}, "body"),
    ("setpoint outside limits", {"setpoint": 40}, "body"),
    ("impossible setpoint", {"setpoint": 500}, "setpoint"),
    ("inverted limits", {"setpoint_min": 30, "setpoint_max": 10}, "body"),
    ("bad mode", {"mode": "auto"}, "mode"),
    ("profile mode without a run", {"mode": "profile"}, "body"),
    ("negative gain", {"pid": {"kp": -1, "ki": 0, "kd": 0}}, "pid.kp"),
    ("manual output over 100", {"manual_output": 101}, "manual_output"),
    ("unknown field", {"hysteresis": 0.5}, "hysteresis"),
    ("zero window", {"window_s": 0}, "window_s"),
    ("string setpoint", {"setpoint": "warm"}, "setpoint"),
    ("sensor not an object", {"sensor": "ferm/beer"}, "sensor"),
]


@pytest.mark.parametrize(("case", "change", "field"), BAD_LOOPS, ids=[c[0] for c in BAD_LOOPS])
async def test_bad_loops_are_refused_naming_the_field(
    api: TestClient, fermenter: dict[str, Any], case: str, change: dict[str, Any], field: str
) -> None:
    resp = await api.put("/api/loops/fv1", json={**fermenter, **change})
    body = await resp.json()
    assert resp.status == 422, body
    assert field in [d["field"] for d in body["detail"]], body
    resp = await api.get("/api/loops/fv1")
    assert await resp.json() == fermenter


async def test_put_with_a_different_id_in_the_body_is_refused(
    api: TestClient, fermenter: dict[str, Any]
) -> None:
    resp = await api.put("/api/loops/fv1", json={**fermenter, "id": "fv9"})
    body = await resp.json()
    assert resp.status == 422 and body["detail"][0]["field"] == "id"


async def test_loops_list_in_id_order(api: TestClient, fermenter: dict[str, Any]) -> None:
    await create(api, "devices", {**FERMENTER_DEVICE, "id": "ferm2"})
    loop = {**FERMENTER_LOOP, "id": "a-first"}
    for io in ("sensor", "heater", "cooler"):
        loop[io] = {**loop[io], "device": "ferm2"}
    await create(api, "loops", loop)
    resp = await api.get("/api/loops")
    assert [loop["id"] for loop in await resp.json()] == ["a-first", "fv1"]


async def test_a_second_loop_on_the_same_relay_is_refused(
    api: TestClient, fermenter: dict[str, Any]
) -> None:
    """Two loops on one compressor would fight over it and break its minimum off time."""
    second = {**FERMENTER_LOOP, "id": "fv2", "heater": None}  # the same cooler as fv1
    resp = await api.post("/api/loops", json=second)
    assert resp.status == 409
    body = await resp.json()
    assert "already driven by loop 'fv1'" in body["error"]
    assert body["detail"]["used_by"] == {"loops": ["fv1"]}
    assert (await api.get("/api/loops/fv2")).status == 404


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"window_s": 1e-6}, "window_s must be at least"),
        ({"compressor": {"min_on_s": 1e9}}, "at most 3600"),
        ({"setpoint_max": 104, "setpoint": 20}, "within -10..40"),
        ({"compressor": {"window_s": 5}}, "compressor.window_s"),
        (
            {"kind": "kettle", "heater": None, "setpoint_max": 105, "board_fallback": True},
            "never left to the board's fallback thermostat",
        ),
    ],
)
async def test_unsafe_loop_settings_are_refused(
    api: TestClient, fermenter: dict[str, Any], change: dict[str, Any], why: str
) -> None:
    resp = await api.post("/api/loops", json={**FERMENTER_LOOP, "id": "fv2", **change})
    data = await resp.json()
    assert resp.status == 422, data
    assert why in json.dumps(data), data


async def test_interlocks_and_the_contactor_must_exist_on_their_devices(
    api: TestClient, fermenter: dict[str, Any]
) -> None:
    v = fermenter["version"]
    resp = await api.patch(
        "/api/loops/fv1",
        json={"interlocks": [{"device": "ferm", "id": "float"}], "version": v},
    )
    body = await resp.json()
    assert resp.status == 422, body
    assert "has no input 'float'" in json.dumps(body)
    resp = await api.patch(
        "/api/loops/fv1", json={"contactor": {"device": "ferm", "id": "main"}, "version": v}
    )
    assert resp.status == 422
    assert "has no actuator 'main'" in json.dumps(await resp.json())
    resp = await api.patch(
        "/api/loops/fv1", json={"contactor": {"device": "ferm", "id": "heater"}, "version": v}
    )
    assert resp.status == 422
    assert "master contactor must be its own actuator" in json.dumps(await resp.json())


async def test_a_loop_takes_its_outputs_types_from_the_actuators_and_may_not_contradict_them(
    api: TestClient,
) -> None:
    typed = {
        **FERMENTER_DEVICE,
        "actuators": [
            {"id": "heater", "role": "heater", "channel": 1, "type": "relay"},
            {"id": "cooler", "role": "cooler", "channel": 2, "type": "compressor"},
        ],
    }
    await create(api, "devices", typed)
    heating = {**FERMENTER_LOOP, "cooler": None}  # declares no type: it takes the relay's
    assert (await create(api, "loops", heating))["heater_output"] is None
    cooling = {**FERMENTER_LOOP, "id": "fv2", "heater": None}
    cooling["cooler_output"] = {"type": "glycol_valve"}
    resp = await api.post("/api/loops", json=cooling)
    body = await resp.json()
    assert resp.status == 422, body
    problem = next(d for d in body["detail"] if d["field"] == "cooler_output.type")
    assert (
        problem["message"] == "the loop says glycol_valve, but actuator ferm/cooler is a compressor"
    )
    cooling["cooler_output"] = {"type": "compressor", "min_off_s": 900}  # its own timings
    await create(api, "loops", cooling)
    # …and a device may not change under a loop that says otherwise
    device = await (await api.get("/api/devices/ferm")).json()
    device["actuators"][1]["type"] = "pump"
    resp = await api.put("/api/devices/ferm", json=device)
    assert resp.status == 409, await resp.json()
    assert "fv2" in json.dumps(await resp.json())


async def test_the_glycol_cellar_of_the_docs_is_accepted(api: TestClient) -> None:
    """docs/control.md's chiller and fermenter, as a brewer would POST them."""
    from tests.controller.test_glycol_controller import doc_example

    await create(api, "devices", doc_example('"id": "cellar"'))
    early = await api.post("/api/loops", json=doc_example('"id": "fv2"'))  # before its chiller
    assert early.status == 422
    assert (await early.json())["detail"][0]["field"] == "glycol.chiller"
    chiller = await create(api, "loops", doc_example('"id": "chiller"'))
    assert chiller["chiller"]["min_off_s"] == 300
    fv2 = await create(api, "loops", doc_example('"id": "fv2"'))
    assert fv2["glycol"] == {"chiller": "chiller", "priority": 1}
    wrong = {
        **doc_example('"id": "fv2"'),
        "id": "fv3",
        "cooler": {"device": "cellar", "id": "compressor"},
    }
    resp = await api.post("/api/loops", json=wrong)  # a valve loop on the chiller's compressor
    body = await resp.json()
    assert resp.status == 422, body
    assert body["error"] == "loop 'fv3' contradicts its actuators' types"
