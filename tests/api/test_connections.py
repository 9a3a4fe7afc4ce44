"""1,100 idle, half-open connections do not stop the API from answering `/api/health`.

The API runs as `make run-all` runs it (a process of its own, the usual limit of
1,024 open files); the idle connections come from this test's process.
"""

from __future__ import annotations

import contextlib
import json
import resource
import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.broker import Broker
from tests.support.ports import free_port, wait_for_port
from tests.support.services import Service, service_env

IDLE = 1100


@pytest.fixture
def api_process(broker: Broker, tmp_path: Path) -> Iterator[int]:
    port = free_port()
    env = service_env(
        broker.url,
        MAELSTROM_HTTP_PORT=str(port),
        MAELSTROM_HTTP_HOST="127.0.0.1",
        MAELSTROM_DATABASE_URL=f"sqlite:///{tmp_path / 'maelstrom.db'}",
    )
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # The API gets the usual 1,024; this process needs room for its 1,100 sockets.
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(1024, hard), hard))
    service = Service("services.api", env, tmp_path / "api.log")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
    try:
        wait_for_port(port, timeout=20)
        yield port
    finally:
        service.stop()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def health(port: int) -> dict:
    # Without the guard the API takes ~9 s (accept() fails with EMFILE and backs off).
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=3) as resp:
        return json.loads(resp.read())


@pytest.mark.skipif(
    resource.getrlimit(resource.RLIMIT_NOFILE)[1] < IDLE + 200,
    reason="the hard open-file limit cannot hold this many idle connections",
)
def test_idle_connections_do_not_stop_health(api_process: int) -> None:
    idle: list[socket.socket] = []
    try:
        for _ in range(IDLE):
            # connected = accepted or queued by the kernel, as an attacker's would be
            idle.append(socket.create_connection(("127.0.0.1", api_process), timeout=10))
        for s in idle[:50]:  # some send half a request and stop: the slowloris way
            with contextlib.suppress(OSError):
                s.send(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        assert health(api_process)["database"]["ok"]
    finally:
        for s in idle:
            s.close()
