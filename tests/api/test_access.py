"""Who may change what, generated from openapi.json: every operation that changes
anything refuses the anonymous (401) and the too-lowly (403), and a refused call
leaves every table as it was."""

from __future__ import annotations

import re
from typing import Any

from aiohttp.test_utils import TestClient

from services.controller.app import Controller
from tests.api.access import credentials, snapshot

PATH_VALUES = {"id": "fv1", "key": "units", "channel": "logs", "subtopic": "x"}
RANK = {"viewer": 1, "brewer": 2, "admin": 3}


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(method, concrete path, role) of every operation that changes something."""
    out = []
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            if method in ("get", "head"):
                continue
            concrete = re.sub(r"{(\w+)}", lambda m: PATH_VALUES.get(m.group(1), "1"), path)
            out.append((method.upper(), concrete, op["x-maelstrom-role"]))
    return out


async def test_every_change_needs_the_right_role_and_a_refusal_changes_nothing(
    api: TestClient, controlled: Controller
) -> None:
    creds = await credentials(api)
    spec = await (await api.get("/api/openapi.json")).json()
    operations = _operations(spec)
    assert len(operations) > 25  # devices, loops, commands, users, tokens, restore…
    roles = {role for _m, _p, role in operations}
    assert {"open", "brewer", "admin"} <= roles
    api.session.cookie_jar.clear()  # from here on: tokens, or nothing
    before = snapshot(api)
    for method, path, role in operations:
        if role == "open":
            continue
        resp = await api.request(method, path, json={})
        assert resp.status == 401, (method, path, await resp.text())
        assert (await resp.json())["error"] == "unauthorized"
        resp = await api.request(method, path, json={}, headers=creds.bearer("viewer"))
        assert resp.status == 403 if role != "authenticated" else 400, (method, path)
        if RANK.get(role, 0) > RANK["brewer"]:
            resp = await api.request(method, path, json={}, headers=creds.bearer("brewer"))
            assert resp.status == 403, (method, path, await resp.text())
            body = await resp.json()
            assert body["detail"]["needs"] == role
    assert snapshot(api) == before, "a refused call changed the database"
    # ...and a brewer may do the brewer's part: setpoint, profiles, alarm acks, notes
    for method, path, role in operations:
        if role == "brewer":
            resp = await api.request(method, path, json={}, headers=creds.bearer("brewer"))
            assert resp.status not in (401, 403), (method, path, await resp.text())
    resp = await api.post("/api/loops/fv1/setpoint", data="18.5", headers=creds.bearer("brewer"))
    assert resp.status == 200, await resp.text()


async def test_reads_need_a_login_once_an_owner_exists(api: TestClient) -> None:
    creds = await credentials(api)
    api.session.cookie_jar.clear()
    assert (await api.get("/api/loops")).status == 401
    assert (await api.get("/api/loops", headers=creds.bearer("viewer"))).status == 200
    assert (await api.get("/api/health")).status == 200  # monitoring stays open
    assert (await api.get("/api/openapi.json")).status == 200
    # a viewer reads the brewery, not the keys to it
    assert (await api.get("/api/tokens", headers=creds.bearer("viewer"))).status == 403
    assert (await api.get("/api/backup", headers=creds.bearer("brewer"))).status == 403
    assert (await api.get("/api/backup", headers=creds.bearer("admin"))).status == 200
