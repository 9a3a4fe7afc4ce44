"""What holds whatever the login: serial paths, alarm records, static files, headers,
body size, the Host allow-list."""

from __future__ import annotations

import asyncio

from aiohttp.test_utils import TestClient


async def test_a_serial_device_must_be_a_serial_port(api: TestClient) -> None:
    for port in ("/etc/shadow", "/dev/sda", "/dev/tty/../sda", "spy:///dev/ttyS0", "loop://"):
        body = {"id": "board", "kind": "serial", "serial": {"port": port}}
        resp = await api.post("/api/devices", json=body)
        detail = (await resp.json())["detail"]
        assert resp.status == 422 and detail[0]["field"] == "serial.port", port
    ports = ("/dev/ttyACM0", "/dev/serial/by-id/usb-Arduino_Uno-if00", "socket://pi:7000")
    for i, port in enumerate(ports):
        body = {"id": f"board{i}", "kind": "serial", "serial": {"port": port}}
        resp = await api.post("/api/devices", json=body)
        assert resp.status == 201, (port, await resp.text())


async def test_alarm_records_cannot_be_cleared_by_publishing(api: TestClient) -> None:
    resp = await api.post("/api/publish/alarms/fv1-high?retain=1", data=b"")
    assert resp.status == 403
    assert (await api.post("/api/publish/logs/ui", data=b"hello")).status == 202


async def test_static_files_cannot_escape_the_web_ui(api: TestClient) -> None:
    for path in ("/../pyproject.toml", "/%2e%2e/pyproject.toml", "/js/..%2f..%2fMakefile"):
        resp = await api.get(path)
        assert resp.status in (400, 403, 404), path
        assert "[project]" not in await resp.text()


async def test_the_ui_has_security_headers_and_no_cors(api: TestClient) -> None:
    resp = await api.get("/", headers={"Origin": "http://evil.example"})
    assert resp.status == 200
    csp = resp.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert "Access-Control-Allow-Origin" not in resp.headers
    resp = await api.options("/api/loops", headers={"Origin": "http://evil.example"})
    assert "Access-Control-Allow-Origin" not in resp.headers


async def test_a_50_mb_body_is_refused_without_reading_it(api: TestClient) -> None:
    port = api.server.port
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"POST /api/restore HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 52428800\r\n\r\n" + b" " * (1100 * 1024)
    )
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), 10)
    writer.close()
    assert b" 413 " in status_line


async def test_a_foreign_host_is_refused(api: TestClient) -> None:
    resp = await api.get("/api/loops", headers={"Host": "attacker.example:8888"})
    assert resp.status == 421
    resp = await api.get("/", headers={"Host": "attacker.example"})
    assert resp.status == 421
    assert (await api.get("/api/loops", headers={"Host": "localhost:8888"})).status == 200
