"""Setup, login, CSRF, logout, password change, disabling, tokens, brute force."""

from __future__ import annotations

import dataclasses
from typing import Any

from aiohttp.test_utils import TestClient

from services.api.auth import AUTH
from services.common.config import Config
from services.controller.app import Controller
from tests.api.access import OWNER, add_user, credentials, issue_token, set_up_owner, snapshot
from tests.api.conftest import start_api

FROM_LAN = {"X-Forwarded-For": "192.168.1.50"}
"""What a request through a reverse proxy looks like: not this machine's own."""


async def login(api: TestClient, name: str, password: str) -> tuple[int, dict[str, Any]]:
    resp = await api.post("/api/auth/login", json={"name": name, "password": password})
    return resp.status, await resp.json()


async def test_first_run_setup_once_from_loopback_or_with_the_code(api: TestClient) -> None:
    status = await (await api.get("/api/auth/status")).json()
    assert status["setup_required"] and status["user"]["name"] == "local"
    # from the LAN, the owner may be created only with the code from the API's log
    resp = await api.post("/api/auth/setup", json=OWNER, headers=FROM_LAN)
    assert resp.status == 403 and (await resp.json())["detail"]["field"] == "code"
    resp = await api.post("/api/loops/x/setpoint", data="20", headers=FROM_LAN)
    assert resp.status == 401  # no owner yet: changes only from this machine
    code = api.app[AUTH].setup_code  # type: ignore[index]
    resp = await api.post("/api/auth/setup", json={**OWNER, "code": code}, headers=FROM_LAN)
    assert resp.status == 201
    body = await resp.json()
    assert body["user"] == {"name": "anna", "role": "admin", "kind": "user"}
    api.session.cookie_jar.clear()
    resp = await api.post("/api/auth/setup", json={"name": "eve", "password": "x" * 12})
    assert resp.status == 409  # once
    # loopback is no longer trusted once an owner exists
    assert (await api.post("/api/settings", json={"key": "a", "value": 1})).status == 401


async def test_session_cookie_is_httponly_strict_and_changes_need_the_csrf_token(
    api: TestClient,
) -> None:
    resp = await api.post("/api/auth/setup", json=OWNER)
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and OWNER["password"] not in cookie
    csrf = (await resp.json())["csrf"]
    body = {"key": "units", "value": "C"}
    resp = await api.post("/api/settings", json=body)
    assert resp.status == 403 and (await resp.json())["detail"]["field"] == "X-CSRF-Token"
    resp = await api.post("/api/settings", json=body, headers={"X-CSRF-Token": "guess"})
    assert resp.status == 403
    resp = await api.post("/api/settings", json=body, headers={"X-CSRF-Token": csrf})
    assert resp.status == 201, await resp.text()
    status = await (await api.get("/api/auth/status")).json()
    assert status["user"]["name"] == "anna" and status["csrf"] == csrf
    resp = await api.post("/api/auth/logout", headers={"X-CSRF-Token": csrf})
    assert resp.status == 204
    assert (await api.get("/api/settings")).status == 401


async def test_logout_ends_the_session_even_for_a_copied_cookie(api: TestClient) -> None:
    await set_up_owner(api)
    copied = {c.key: c.value for c in api.session.cookie_jar}
    status = await (await api.get("/api/auth/status")).json()
    await api.post("/api/auth/logout", headers={"X-CSRF-Token": status["csrf"]})
    resp = await api.get("/api/loops", cookies=copied)
    assert resp.status == 401


async def test_brute_force_is_refused_even_with_the_right_password(api: TestClient) -> None:
    await set_up_owner(api)
    api.session.cookie_jar.clear()
    for _ in range(5):
        assert (await login(api, "anna", "wrong password"))[0] == 401
    status, body = await login(api, "anna", OWNER["password"])
    assert status == 429 and body["detail"]["retry_after"] > 0
    # other names are limited per address too, after 20 failures from it
    for i in range(15):
        assert (await login(api, f"user{i}", "wrong password"))[0] == 401
    assert (await login(api, "someone", "x"))[0] == 429


async def test_disabled_user_is_logged_out_and_cannot_log_in(api: TestClient) -> None:
    csrf = await set_up_owner(api)
    user_id = await add_user(api, csrf, "ben", "brewer", "ben's password")
    owner_jar = api.session.cookie_jar
    api.session._cookie_jar = type(owner_jar)(unsafe=True)  # ben's browser
    status, body = await login(api, "ben", "ben's password")
    assert status == 200 and body["user"]["role"] == "brewer"
    ben_csrf = body["csrf"]
    resp = await api.post("/api/loops/x/setpoint", data="20", headers={"X-CSRF-Token": ben_csrf})
    assert resp.status == 404  # allowed, the loop does not exist
    ben_jar = api.session.cookie_jar
    api.session._cookie_jar = owner_jar
    resp = await api.patch(
        f"/api/users/{user_id}", json={"disabled": True}, headers={"X-CSRF-Token": csrf}
    )
    assert resp.status == 200 and (await resp.json())["disabled"]
    api.session._cookie_jar = ben_jar
    assert (await api.get("/api/loops")).status == 401
    assert (await login(api, "ben", "ben's password"))[0] == 401


async def test_password_change_and_the_last_admin_stays(api: TestClient) -> None:
    csrf = await set_up_owner(api)
    resp = await api.post(
        "/api/auth/password",
        json={"current": "not it", "new": "a new long password"},
        headers={"X-CSRF-Token": csrf},
    )
    assert resp.status == 403
    resp = await api.post(
        "/api/auth/password",
        json={"current": OWNER["password"], "new": "a new long password"},
        headers={"X-CSRF-Token": csrf},
    )
    assert resp.status == 204
    csrf = resp.headers["X-CSRF-Token"]
    assert (await api.get("/api/users")).status == 200  # this browser stays logged in
    resp = await api.patch("/api/users/1", json={"role": "viewer"}, headers={"X-CSRF-Token": csrf})
    assert resp.status == 409
    api.session.cookie_jar.clear()
    assert (await login(api, "anna", OWNER["password"]))[0] == 401
    assert (await login(api, "anna", "a new long password"))[0] == 200


async def test_tokens_are_shown_once_stored_hashed_and_revoked_at_once(api: TestClient) -> None:
    creds = await credentials(api)
    secret = creds.tokens["brewer"]
    headers = creds.bearer("brewer")
    assert (await api.get("/api/loops", headers=headers)).status == 200
    listed = await (await api.get("/api/tokens", headers=creds.bearer("admin"))).json()
    assert all("token" not in t for t in listed)
    brewer = next(t for t in listed if t["role"] == "brewer")
    assert brewer["last_used_at"] is not None
    assert secret not in repr(snapshot(api))  # only its SHA-256 is kept
    resp = await api.delete(f"/api/tokens/{brewer['id']}", headers={"X-CSRF-Token": creds.csrf})
    assert resp.status == 204
    resp = await api.get("/api/loops", headers=headers)
    assert resp.status == 401 and "not valid" in (await resp.json())["detail"]["message"]


async def test_the_old_api_token_still_works_as_an_admin_token(config: Config) -> None:
    api = await start_api(dataclasses.replace(config, api_token="s3cret"))
    try:
        headers = {"Authorization": "Bearer s3cret"}
        resp = await api.post("/api/settings", json={"key": "a", "value": 1}, headers=headers)
        assert resp.status == 201
        assert (await api.post("/api/settings", json={"key": "b", "value": 1})).status == 401
    finally:
        await api.close()


async def test_auth_off_lets_anyone_in_but_still_refuses_other_sites(config: Config) -> None:
    api = await start_api(dataclasses.replace(config, auth=False))
    try:
        status = await (await api.get("/api/auth/status")).json()
        assert status["auth"] == "off" and not status["setup_required"]
        body = {"key": "a", "value": 1}
        assert (await api.post("/api/settings", json=body, headers=FROM_LAN)).status == 201
        evil = {"Origin": "http://evil.example", "Content-Type": "text/plain"}
        resp = await api.post("/api/loops/x/setpoint", data="31.5", headers=evil)
        assert resp.status == 403 and (await resp.json())["error"] == "cross-site request refused"
        resp = await api.get("/api/loops", headers={"Host": "rebind.evil.example"})
        assert resp.status == 421
    finally:
        await api.close()


async def test_tokens_work_for_scripts(api: TestClient) -> None:
    csrf = await set_up_owner(api)
    token = await issue_token(api, csrf, "admin", "backup-script")
    api.session.cookie_jar.clear()
    resp = await api.get(f"/api/backup?token={token}")  # a download link
    assert resp.status == 200
    resp = await api.get("/api/audit", headers={"Authorization": f"Bearer {token}"})
    entries = await resp.json()
    assert entries[0]["who"] == "anna" and entries[0]["path"] == "/api/tokens"


async def test_backups_and_answers_hold_no_secrets(api: TestClient) -> None:
    creds = await credentials(api)
    admin = creds.bearer("admin")
    backup = await (await api.get("/api/backup", headers=admin)).text()
    users = await (await api.get("/api/users", headers=admin)).text()
    tokens = await (await api.get("/api/tokens", headers=admin)).text()
    for text in (backup, users, tokens):
        assert OWNER["password"] not in text and "argon2" not in text
        assert not any(secret in text for secret in creds.tokens.values())
    assert "token_hash" not in tokens and "password" not in users


async def test_a_rest_setpoint_is_recorded_with_its_author(
    api: TestClient, controlled: Controller
) -> None:
    creds = await credentials(api)
    resp = await api.post("/api/loops/fv1/setpoint", data="18", headers=creds.bearer("brewer"))
    assert resp.status == 200
    entries = await (await api.get("/api/audit", headers=creds.bearer("admin"))).json()
    assert entries[0]["who"] == "token:brewer-script"
    assert entries[0]["path"] == "/api/loops/fv1/setpoint" and entries[0]["status"] == 200


async def test_a_user_id_beyond_what_the_database_holds_is_not_found(api: TestClient) -> None:
    """The REST fuzz found a 500: an id past SQLite's 64-bit integers overflowed."""
    await set_up_owner(api)
    for user_id in ("378918053202708666515456", "9223372036854775808", "²"):
        resp = await api.get(f"/api/users/{user_id}")
        assert resp.status == 404, user_id
        assert (await resp.json())["error"] == "no such user"
