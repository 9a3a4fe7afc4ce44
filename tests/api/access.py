"""Helpers for the access tests: an owner, users and tokens of each role, a DB snapshot."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp.test_utils import TestClient

from services.api.database import DATABASE

OWNER = {"name": "anna", "password": "correct horse battery"}
NOT_COMPARED = {"audit", "session", "schema_version"}
"""Tables a refused call may touch: its own audit line, the session's last-seen time."""
RECORDED = "history_"
"""...and what the recorder writes from MQTT as the controller runs (samples, events,
logs): not REST's doing. Notes (annotations), which REST changes, are compared."""
COMPARED_HISTORY = {"history_annotation"}
VOLATILE_COLUMNS = {"last_used_at", "last_seen_at"}


@dataclass
class Credentials:
    tokens: dict[str, str]
    """role → `Authorization` header value."""
    csrf: str

    def bearer(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


async def set_up_owner(api: TestClient) -> str:
    """First run from loopback: the owner exists and is logged in; returns the CSRF token."""
    resp = await api.post("/api/auth/setup", json=OWNER)
    body = await resp.json()
    assert resp.status == 201, body
    return body["csrf"]


async def issue_token(api: TestClient, csrf: str, role: str, name: str | None = None) -> str:
    resp = await api.post(
        "/api/tokens",
        json={"name": name or f"{role}-script", "role": role},
        headers={"X-CSRF-Token": csrf},
    )
    body = await resp.json()
    assert resp.status == 201, body
    return body["token"]


async def credentials(api: TestClient) -> Credentials:
    """An owner (logged in by cookie in `api`'s jar) and a token per role."""
    csrf = await set_up_owner(api)
    tokens = {role: await issue_token(api, csrf, role) for role in ("viewer", "brewer", "admin")}
    return Credentials(tokens, csrf)


async def add_user(api: TestClient, csrf: str, name: str, role: str, password: str) -> int:
    resp = await api.post(
        "/api/users",
        json={"name": name, "role": role, "password": password},
        headers={"X-CSRF-Token": csrf},
    )
    body = await resp.json()
    assert resp.status == 201, body
    return body["id"]


def snapshot(api: TestClient) -> dict[str, Any]:
    """Every row of every table that a refused call must leave alone."""
    db = api.app[DATABASE]  # type: ignore[index]
    out: dict[str, Any] = {}
    tables = {
        t
        for t in db.get_tables()
        if t not in NOT_COMPARED and (not t.startswith(RECORDED) or t in COMPARED_HISTORY)
    }
    for table in sorted(tables):
        cursor = db.execute_sql(f'SELECT * FROM "{table}"')
        names = [d[0] for d in cursor.description]
        rows = [
            tuple(v for n, v in zip(names, row, strict=True) if n not in VOLATILE_COLUMNS)
            for row in cursor.fetchall()
        ]
        out[table] = sorted(rows, key=repr)
    return out
