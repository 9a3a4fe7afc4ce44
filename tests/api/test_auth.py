"""MAELSTROM_API_TOKEN: the API answers only to those who know it."""

from __future__ import annotations

import dataclasses

from services.common.config import Config
from tests.api.conftest import start_api


async def test_a_token_is_required_when_configured(config: Config) -> None:
    api = await start_api(dataclasses.replace(config, api_token="s3cret"))
    try:
        resp = await api.get("/api/loops")
        body = await resp.json()
        assert resp.status == 401 and body["detail"]["field"] == "Authorization"
        resp = await api.get("/api/loops", headers={"Authorization": "Bearer wrong"})
        assert resp.status == 401
        resp = await api.get("/api/loops", headers={"Authorization": "Bearer s3cret"})
        assert resp.status == 200
        resp = await api.get("/api/backup?token=s3cret")
        assert resp.status == 200
        resp = await api.get("/api/health")  # monitoring stays open
        assert resp.status == 200
        resp = await api.get("/")  # the UI's files are not secrets
        assert resp.status == 200
    finally:
        await api.close()
