"""`/api/openapi.json` documents every route, and the API keeps its promises (schemathesis)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from services.api.app import create_app
from services.api.openapi import build_spec, undocumented
from services.common.config import Config
from tests.support.broker import Broker
from tests.support.ports import free_port, wait_for_port
from tests.support.services import Service, service_env


def test_every_api_route_is_documented() -> None:
    app = create_app(Config())
    assert undocumented(app) == []
    spec = build_spec(app)
    documented = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    assert ("POST", "/api/loops/{id}/setpoint") in documented
    assert ("GET", "/api/openapi.json") in documented
    assert spec["openapi"].startswith("3.1")


async def test_served_document_is_the_generated_one(api: TestClient) -> None:
    resp = await api.get("/api/openapi.json")
    served = await resp.json()
    assert served["paths"] == build_spec(api.app)["paths"]  # type: ignore[arg-type]
    for name in ("Loop", "Profile", "Device", "Setting", "Error", "Backup"):
        assert name in served["components"]["schemas"]


@pytest.fixture(scope="module")
def running_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir: Path = tmp_path_factory.mktemp("schemathesis")
    (workdir / "broker").mkdir()
    broker = Broker(workdir / "broker")
    broker.start()
    port = free_port()
    env = service_env(
        broker.url,
        MAELSTROM_HTTP_HOST="127.0.0.1",
        MAELSTROM_HTTP_PORT=str(port),
        MAELSTROM_DATABASE_URL=f"sqlite:///{workdir / 'maelstrom.db'}",
        MAELSTROM_DEMO="1",
        MAELSTROM_LOG_LEVEL="WARNING",
    )
    api = Service("services.api", env, workdir / "api.log")
    try:
        wait_for_port(port, timeout=20)
        yield f"http://127.0.0.1:{port}"
    finally:
        api.stop()
        broker.stop()
    assert "Traceback" not in api.output(), api.output()[-3000:]


schema = schemathesis.openapi.from_dict(build_spec(create_app(Config())))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.mark.xdist_group("schemathesis")
@schema.parametrize()
@settings(
    max_examples=int(os.environ.get("MAELSTROM_SCHEMATHESIS_EXAMPLES", "15")),
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_schema(case: schemathesis.Case, running_api: str) -> None:
    case.call_and_validate(base_url=running_api, checks=CHECKS, timeout=10)
