"""`make reliability`: throw malformed input at every edge of a running system and count.

Bounded and loopback only: its own Mosquitto, API (with the bridge at /ws) and
controller (demo configuration, simulated boards) on free ports in a temp dir, plus
the real serial driver against a pseudo-terminal. Prints one table:

- MQTT: malformed payloads on every topic the API and the controller subscribe to;
  then control must still run (fresh loop state) and the API answer /api/health.
- WebSocket: malformed frames from several browsers at once; every one must get
  its error frame within 5 s, and the bridge keep its broker connection.
- Serial: garbage lines, framed nonsense and over-long lines into the real driver
  over a pty, valid readings among them; the readings must all arrive.
- REST: schemathesis, positive and negative cases over every operation; no 5xx.
- Crash: kill -9 of the broker, the API or the controller, each restarted (as the
  supervisor would), after acknowledged REST writes; nothing acknowledged is lost.
- Soak: 100 browsers (a few Chromium, the rest aiohttp) on `maelstrom/#` while
  200 msg/s flow for three minutes: nothing lost, memory flat (bench/soak.py).

Counts: crashes (a process died), hangs (no answer in time), 5xx, tracebacks
(in any service's output). `MAELSTROM_RELIABILITY_SCALE=0.1` runs a tenth of it;
`MAELSTROM_RELIABILITY_PHASES=kill,soak` only the rows named.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import platform
import random
import signal
import statistics
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from bench.soak import soak
from tests.support.broker import Broker
from tests.support.ports import free_port, wait_for_port
from tests.support.probe import MqttProbe
from tests.support.services import Service, service_env

SCALE = float(os.environ.get("MAELSTROM_RELIABILITY_SCALE", "1"))
MQTT_PAYLOADS = int(5_000 * SCALE)
WS_FRAMES = int(2_000 * SCALE)
SERIAL_LINES = int(5_000 * SCALE)
REST_CASES = int(10_000 * SCALE)
KILLS = int(50 * SCALE)
SOAK_S = max(20.0, 180 * SCALE)
SOAK_BROWSERS = 100
SOAK_CHROMIUM = 3
SOAK_RATE = 200.0
PHASES = [p for p in os.environ.get("MAELSTROM_RELIABILITY_PHASES", "").split(",") if p]
"""Run only these rows (`mqtt,ws,serial,kill,soak,rest`); all when empty."""
SEED = 20261202


@dataclass
class Row:
    what: str
    cases: int = 0
    crashes: int = 0
    hangs: int = 0
    server_errors: int = 0
    tracebacks: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.crashes or self.hangs or self.server_errors or self.tracebacks)


# --- the system under test --------------------------------------------------------------------


class Stack:
    """Broker, API and controller as `make run-all` runs them, on their own ports."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        (workdir / "broker").mkdir()
        self.broker = Broker(workdir / "broker")
        self.broker.start()
        self.http_port = free_port()
        self.env = service_env(
            self.broker.url,
            MAELSTROM_HTTP_HOST="127.0.0.1",
            MAELSTROM_HTTP_PORT=str(self.http_port),
            MAELSTROM_DATABASE_URL=f"sqlite:///{workdir / 'maelstrom.db'}",
            MAELSTROM_DEMO="1",
            MAELSTROM_LOG_LEVEL="WARNING",
        )
        self.services: dict[str, Service] = {}
        self.generation = 0
        for name in ("api", "controller"):
            self.start(name)
        wait_for_port(self.http_port, timeout=30)

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self, name: str) -> None:
        self.generation += 1
        log = self.workdir / f"{name}-{self.generation}.log"
        self.services[name] = Service(f"services.{name}", self.env, log)

    def crashed(self) -> list[str]:
        return [n for n, s in self.services.items() if s.proc.poll() is not None]

    def tracebacks(self) -> int:
        return sum(
            p.read_text(errors="replace").count("Traceback") for p in self.workdir.glob("*.log")
        )

    def first_traceback(self) -> str:
        """The first traceback in any service's output (to say where it came from)."""
        for path in sorted(self.workdir.glob("*.log")):
            text = path.read_text(errors="replace")
            at = text.find("Traceback")
            if at >= 0:
                return f"{path.name}:\n" + "\n".join(text[at:].splitlines()[:40])
        return ""

    def revive(self) -> int:
        """Restart what died (as the supervisor would); how many had."""
        dead = self.crashed()
        for name in dead:
            self.services[name].stop()
            self.start(name)
        if "api" in dead:
            wait_for_port(self.http_port, timeout=30)
        return len(dead)

    def stop(self) -> None:
        for service in self.services.values():
            service.stop()
        self.broker.stop()


def get_json(url: str, timeout: float = 5.0) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, None


def control_runs(stack: Stack, since: float, timeout: float = 15.0) -> bool:
    """The controller publishes a loop state measured after `since`."""
    probe = MqttProbe(stack.broker.port).subscribe("maelstrom/data/+")
    try:
        probe.wait_for(
            "maelstrom/data/+",
            lambda m: not m.retain and _ts(m.payload) > since,
            timeout=timeout,
        )
        return True
    except TimeoutError:
        return False
    finally:
        probe.close()


def _ts(payload: bytes) -> float:
    try:
        return float(json.loads(payload).get("ts", 0))
    except (ValueError, AttributeError, TypeError):
        return 0.0


def api_healthy(stack: Stack, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            status, _ = get_json(stack.http + "/api/health", 2)
            if status == 200:
                return True
        except OSError:
            pass
        time.sleep(0.2)  # polling a service that announces nothing
    return False


# --- malformed input ---------------------------------------------------------------------------


def nasty_payloads(rng: random.Random) -> Iterator[bytes]:
    fixed = [
        b"",
        b"\x00",
        b"\xff\xfe\xfd",
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
        b"NaN",
        b"Infinity",
        b"-Infinity",
        b"1e999",
        b"-1e308",
        b"123456789012345678901234567890",
        b"null",
        b"true",
        b'"text"',
        b"[]",
        b"{}",
        b'{"value": "hot"}',
        b'{"value": NaN}',
        b'{"mode": 5}',
        b'{"action": "start", "profile": 7}',
        b'{"pv": "warm", "ts": "now"}',
        b'{"message": null, "level": "loud"}',
        b'{"value": 20.5, "ts": 1e308}',
        b'{"severity": "high", "message": "' + b"x" * 100_000 + b'"}',
        b"x" * 500_000,
        "ünïcödé \u202e \ufeff".encode(),
        b'{"__proto__": {}}',
    ]
    while True:
        choice = rng.random()
        if choice < 0.3:
            yield rng.choice(fixed)
        elif choice < 0.5:
            yield rng.randbytes(rng.randint(1, 200))
        elif choice < 0.8:  # JSON-ish with wrong types and fields
            value = rng.choice([None, "x", -1, 1e308, [], {}, True, "20", 10**30])
            key = rng.choice(["value", "mode", "setpoint", "pv", "ts", "state", "id", "level"])
            yield json.dumps({key: value, rng.choice(["x", "ts", "by"]): value}).encode()
        else:  # truncated valid-looking JSON
            text = json.dumps({"value": rng.random() * 100, "ts": time.time(), "unit": "°C"})
            yield text[: rng.randint(1, len(text) - 1)].encode()


MQTT_TOPICS = [
    "maelstrom/cmd/loops/fermenter/setpoint",
    "maelstrom/cmd/loops/fermenter/mode",
    "maelstrom/cmd/loops/fermenter/output",
    "maelstrom/cmd/loops/fermenter/profile",
    "maelstrom/cmd/loops/nosuchloop/setpoint",
    "maelstrom/cmd/devices/sim-fermenter/simulate",
    "maelstrom/alarms/fuzz",
    "maelstrom/alarms/fuzz/ack",
    "maelstrom/logs/fuzz",
    "maelstrom/data/fermenter",
    "maelstrom/data/sensors/sim-fermenter/beer",
    "maelstrom/data/sensors/fuzz/x",
    "maelstrom/config/settings/history",
    "maelstrom/config/loops/fuzz",
    "maelstrom/config/devices/fuzz",
    "maelstrom/status/controller",
    "homeassistant/status",
]


def mqtt_fuzz(stack: Stack) -> Row:
    row = Row("MQTT payloads on subscribed topics")
    rng = random.Random(SEED)
    before = stack.tracebacks()
    started = time.monotonic()
    probe = MqttProbe(stack.broker.port)
    payloads = nasty_payloads(rng)
    try:
        for i in range(MQTT_PAYLOADS):
            topic = MQTT_TOPICS[i % len(MQTT_TOPICS)]
            payload = next(payloads)
            if not payload and "/config/" in topic:
                payload = b"\x00"  # an empty config payload is a deletion, not malformed
            probe.client.publish(topic, payload, qos=0)
            row.cases += 1
            if i % 200 == 199:
                probe.publish("maelstrom/logs/fuzz-pace", b"{}", qos=1)  # keep the pace bounded
        probe.publish("maelstrom/logs/fuzz-pace", b"{}", qos=1)
    finally:
        probe.close()
    mark = time.time()
    if not control_runs(stack, mark):
        row.hangs += 1
        row.notes.append("control stopped")
    if not api_healthy(stack):
        row.hangs += 1
        row.notes.append("API unhealthy")
    row.crashes = stack.revive()
    row.tracebacks = stack.tracebacks() - before
    stored = stored_log_rows(stack)
    row.notes.append(f"{stored} log rows stored" if stored is not None else "log not readable")
    row.seconds = time.monotonic() - started
    return row


def stored_log_rows(stack: Stack, timeout: float = 30.0) -> int | None:
    """Log rows stored once the recorder has caught up (a sentinel line has arrived)."""
    probe = MqttProbe(stack.broker.port)
    try:
        probe.publish("maelstrom/logs/sentinel", {"level": "error", "message": "caught up?"})
    finally:
        probe.close()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, body = get_json(stack.http + "/api/logs?source=sentinel&level=debug")
        if status == 200 and body["logs"]:
            status, body = get_json(stack.http + "/api/logs?limit=10000&level=debug")
            return len(body["logs"]) - 1 if status == 200 else None
        time.sleep(0.2)  # polling the recorder's 1 s batches
    return None


def nasty_frames(rng: random.Random) -> Iterator[str | bytes]:
    while True:
        choice = rng.randrange(10)
        if choice == 0:
            yield rng.randbytes(rng.randint(1, 100))  # binary frame
        elif choice == 1:
            yield "[" * 20_000 + "]" * 20_000
        elif choice == 2:
            yield "{not json" + "x" * rng.randint(0, 100)
        elif choice == 3:
            yield json.dumps(rng.choice([1, "x", [], None, True]))
        elif choice == 4:
            yield json.dumps({"op": rng.choice(["fly", "", "PUBLISH", 5, None])})
        elif choice == 5:
            yield json.dumps({"op": "subscribe"})
        elif choice == 6:
            bad = rng.choice(["a/#/b", "a+", "", "\x00", "a/\x01", "x\x7f", "\x9f/#", "#/x"])
            yield json.dumps({"op": "subscribe", "topic": bad})
        elif choice == 7:
            bad = rng.choice(["maelstrom/cmd/#", "maelstrom/cmd/a\x01", "x/\x85", "nope/x", ""])
            yield json.dumps({"op": "publish", "topic": bad, "payload": 1})
        elif choice == 8:
            yield json.dumps({"op": "publish", "topic": "maelstrom/cmd/x", "qos": 7})
        else:
            yield json.dumps({"op": "subscribe", "topic": "a", "extra": [1] * 10})


async def ws_fuzz(stack: Stack, clients: int = 5) -> Row:
    row = Row("WebSocket frames (5 browsers)")
    before = stack.tracebacks()
    started = time.monotonic()
    per_client = WS_FRAMES // clients
    latencies: list[float] = []

    async def browser(index: int, http: aiohttp.ClientSession) -> None:
        rng = random.Random(SEED + index)
        frames = nasty_frames(rng)
        async with http.ws_connect(stack.http + "/ws") as ws:
            await ws.send_json({"op": "subscribe", "topic": "maelstrom/#"})  # under load
            for _ in range(per_client):
                frame = next(frames)
                sent = time.monotonic()
                if isinstance(frame, bytes):
                    await ws.send_bytes(frame)
                else:
                    await ws.send_str(frame)
                row.cases += 1
                try:
                    while True:
                        msg = await asyncio.wait_for(ws.receive(), 5 - (time.monotonic() - sent))
                        if msg.type != aiohttp.WSMsgType.TEXT:
                            raise ConnectionError(f"socket closed: {msg.type} {msg.data}")
                        if json.loads(msg.data).get("op") == "error":
                            latencies.append(time.monotonic() - sent)
                            break
                except TimeoutError:
                    row.hangs += 1

    async with aiohttp.ClientSession() as http:
        results = await asyncio.gather(
            *(browser(i, http) for i in range(clients)), return_exceptions=True
        )
    for result in results:
        if isinstance(result, BaseException):
            row.notes.append(f"browser failed: {result!r}"[:120])
            row.hangs += 1
    status, stats = get_json(stack.http + "/ws/stats")
    if status != 200 or stats["broker"] != "online":
        row.notes.append("bridge lost its broker")
        row.hangs += 1
    row.crashes = stack.revive()
    row.tracebacks = stack.tracebacks() - before
    if latencies:
        latencies.sort()
        p99 = latencies[int(len(latencies) * 0.99) - 1]
        row.notes.append(f"error frame p50 {statistics.median(latencies) * 1000:.1f} ms")
        row.notes.append(f"p99 {p99 * 1000:.1f} ms")
    row.seconds = time.monotonic() - started
    return row


async def serial_fuzz() -> Row:
    from services.common.clock import RealClock
    from services.controller.devices import protocol as p
    from services.controller.devices.serial_board import BoardTiming, SerialBoard
    from tests.controller.fake_board import FakeBoard

    row = Row("Serial lines (real driver, pty)")
    rng = random.Random(SEED)
    started = time.monotonic()
    tracebacks = _TracebackCounter()
    logging.getLogger().addHandler(tracebacks)
    readings: list[tuple[int, float | None, str | None]] = []
    online: list[object] = []

    class Listener:
        def board_online(self, info: object) -> None:
            online.append(info)

        def board_offline(self, reason: str) -> None:
            row.notes.append(f"offline: {reason}"[:80])

        def board_temperature(self, index: int, celsius: float | None, error: str | None) -> None:
            readings.append((index, celsius, error))

        def board_input(self, channel: int, level: bool) -> None:
            pass

        def board_reset(self, info: object) -> None:
            pass

        def board_outputs_off(self, why: str) -> None:
            pass

        def board_output_trouble(self, channel: int, why: str | None) -> None:
            pass

        def board_output(self, channel: int, on: bool) -> None:
            pass

        def board_limit_tripped(self, trip: object) -> None:
            pass

        def board_fallback(self, channel: int, on: bool | None, seconds: int) -> None:
            pass

        def output_fresh(self, channel: int) -> bool:
            return True

    timing = BoardTiming(hello_timeout_s=0.3, refresh_s=0.5, lost_after_s=5.0, backoff_min_s=0.1)
    fake = FakeBoard()
    board = SerialBoard("fuzz", fake.port, RealClock(), Listener(), timing=timing)
    await board.start()
    try:
        while not board.is_open:
            await asyncio.sleep(0.01)
        fake.hello()
        await _until(lambda: online, 5)
        bodies = [
            "T",
            "T 0",
            "T x 1",
            "T 99 1",
            "T 0 1e999",
            "H",
            "S",
            "S 0",
            "A",
            "E 1",
            "D",
            "D 8",
            "D x y",
            "P",
            "?",
            "W 1",
            "O 1 2 3",
            "ERR",
            "T -1 5",
            "T 0 -",
        ]
        sent_valid = 0
        for i in range(SERIAL_LINES):
            choice = rng.randrange(6)
            if choice == 0:
                line = rng.randbytes(rng.randint(1, 80)) + b"\n"
            elif choice == 1:
                line = p.frame(rng.choice(bodies) + " " + str(rng.randint(-(10**9), 10**9)))
            elif choice == 2:
                line = b"T 0 309*00\n"  # bad checksum
            elif choice == 3:
                line = b"x" * rng.randint(200, 5_000) + b"\n"  # over-long
            elif choice == 4:
                line = p.frame(rng.choice(bodies))
            else:
                line = rng.randbytes(rng.randint(1, 20))  # a piece with no end
            await _feed(fake.master, line)
            row.cases += 1
            if i % 50 == 49:
                await _feed(fake.master, b"\n" + p.frame("T 0 309"))  # a valid reading among noise
                sent_valid += 1
                await asyncio.sleep(0.002)  # let the driver read; a board sends lines slowly

        def through() -> int:
            return sum(1 for r in readings if r == (0, 19.3125, None))

        await _until(lambda: through() >= sent_valid, 10)
        good = through()
        row.notes.append(f"{good}/{sent_valid} valid readings through")
        row.notes.append(f"{board.stats.garbage} lines counted as garbage")
        if good < sent_valid:
            row.hangs += 1
    finally:
        await board.stop()
        fake.unplug()
        logging.getLogger().removeHandler(tracebacks)
    row.tracebacks = tracebacks.count
    row.seconds = time.monotonic() - started
    return row


async def _feed(fd: int, data: bytes) -> None:
    """Write all of `data` to the pty, waiting while the driver has not read enough."""
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:
            await asyncio.sleep(0.001)


class _TracebackCounter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            self.count += 1


async def _until(condition: Callable[[], Any], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.02)
    return bool(condition())


def rest_fuzz(stack: Stack) -> Row:
    import requests
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from schemathesis.generation import GenerationMode

    row = Row("REST (schemathesis, + and - cases)")
    before = stack.tracebacks()
    started = time.monotonic()
    schema = schemathesis.openapi.from_url(stack.http + "/api/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    # Operations without inputs have no negative cases, and small ones run out early:
    # aim above the target so the run reaches it.
    per_mode = max(1, math.ceil(REST_CASES * 1.4 / (2 * len(operations))))
    failures: dict[str, int] = {}
    http = requests.Session()  # keep-alive: the API's time, not the handshakes'
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=per_mode,
                deadline=None,
                database=None,
                derandomize=True,
                phases=[Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            def one(case: Any) -> None:
                row.cases += 1
                try:
                    response = case.call(base_url=stack.http, session=http, timeout=10)
                except Exception as exc:  # a timeout or a dropped connection
                    if "imeout" in type(exc).__name__ or "imed out" in str(exc):
                        row.hangs += 1
                    else:
                        op = case.operation
                        key = f"{op.method.upper()} {op.path}: {type(exc).__name__}"
                        failures[key] = failures.get(key, 0) + 1
                    return
                if response.status_code >= 500:
                    row.server_errors += 1
                    op = case.operation
                    key = f"{op.method.upper()} {op.path} {response.status_code}"
                    failures[key] = failures.get(key, 0) + 1

            try:
                one()
            except Exception as exc:
                # Unsatisfiable: no negative case exists for an operation without inputs.
                if type(exc).__name__ != "Unsatisfiable":
                    row.notes.append(f"{operation.path}: {type(exc).__name__}"[:80])
        if stack.crashed():
            row.crashes += stack.revive()
    row.tracebacks = stack.tracebacks() - before
    row.notes += [f"{k} ×{n}" for k, n in sorted(failures.items())][:5]
    row.seconds = time.monotonic() - started
    return row


def crash_campaign(stack: Stack) -> Row:
    """kill -9 a random part after acknowledged writes; every acknowledged write survives."""
    row = Row("kill -9 (broker/API/controller)")
    rng = random.Random(SEED)
    started = time.monotonic()
    acknowledged: dict[str, int] = {}  # key → version the API acknowledged
    values: dict[str, int] = {}  # key → the value that version holds
    recoveries: list[float] = []
    for i in range(KILLS):
        key = f"crash-{i % 5}"
        body = json.dumps({"value": i, "version": acknowledged.get(key, 0)}).encode()
        request = urllib.request.Request(
            f"{stack.http}/api/settings/{key}",
            data=body,
            method="PUT",
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:
                acknowledged[key] = json.loads(resp.read())["version"]
                values[key] = i
        except (urllib.error.URLError, OSError, KeyError):
            pass
        victim = rng.choice(["broker", "api", "controller"])
        killed_at = time.time()
        if victim == "broker":
            assert stack.broker.proc is not None
            stack.broker.proc.send_signal(signal.SIGKILL)
            stack.broker.proc.wait()
            stack.broker.start()
        else:
            stack.services[victim].proc.send_signal(signal.SIGKILL)
            stack.services[victim].proc.wait()
            stack.revive()
        row.cases += 1
        if api_healthy(stack, 30) and control_runs(stack, killed_at, 30):
            recoveries.append(time.time() - killed_at)
        else:
            row.hangs += 1
    lost = 0
    for key, version in acknowledged.items():
        status, setting = get_json(f"{stack.http}/api/settings/{key}")
        if status != 200 or setting["version"] < version or setting["value"] != values[key]:
            lost += 1
    row.notes.append(f"{len(acknowledged)} keys written, {lost} acknowledged writes lost")
    if lost:
        row.server_errors += lost
    if recoveries:
        row.notes.append(
            f"recovery p50 {statistics.median(recoveries):.1f} s, max {max(recoveries):.1f} s"
        )
    row.seconds = time.monotonic() - started
    return row


def soak_row(stack: Stack) -> Row:
    """100 browsers on `maelstrom/#` at 200 msg/s for a few minutes: nothing lost, memory flat."""
    row = Row(f"soak ({SOAK_BROWSERS} browsers, {SOAK_RATE:.0f} msg/s)")
    before = stack.tracebacks()
    started = time.monotonic()
    assert stack.broker.port
    result = asyncio.run(
        soak(
            stack.http,
            stack.broker.port,
            stack.services["api"].proc.pid,
            browsers=SOAK_BROWSERS,
            chromium=SOAK_CHROMIUM,
            rate=SOAK_RATE,
            seconds=SOAK_S,
        )
    )
    t = result.tally
    row.cases = result.browsers
    row.server_errors = t.lost
    row.hangs = t.closed + result.closed_slow  # no browser here is slow: none may be closed
    row.crashes = stack.revive()
    row.tracebacks = stack.tracebacks() - before
    last_minute = int(result.seconds) - 60
    row.notes += [
        f"{result.chromium} Chromium + {result.browsers - result.chromium} aiohttp browsers, "
        f"{result.seconds:.0f} s",
        f"{t.received:,} of {result.expected:,} deliveries, {t.lost} lost, "
        f"{result.coalesced} coalesced, {result.closed_slow} closed slow",
        f"probe latency p50 {result.p(0.5):.1f} ms, p99 {result.p(0.99):.1f} ms "
        f"(first minute {result.p(0.99, hi=60):.1f}, last {result.p(0.99, lo=last_minute):.1f}); "
        f"every browser p50 {result.p(0.5, probe=False):.1f}, "
        f"p99 {result.p(0.99, probe=False):.1f} ms",
        f"API RSS {result.rss_start:.0f} → {result.rss_end:.0f} MB "
        f"(slope {result.rss_slope:+.2f} MB/min), CPU {result.cpu:.0%}",
        "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg()),
    ]
    row.seconds = time.monotonic() - started
    return row


# --- the table ---------------------------------------------------------------------------------


def table(rows: list[Row]) -> str:
    head = "| edge | cases | crashes | hangs | 5xx/lost | tracebacks | time | notes |"
    lines = [head, "|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        lines.append(
            f"| {r.what} | {r.cases} | {r.crashes} | {r.hangs} | {r.server_errors} "
            f"| {r.tracebacks} | {r.seconds:.0f} s | {'; '.join(r.notes)} |"
        )
    return "\n".join(lines)


def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    rows: list[Row] = []
    print(
        f"make reliability — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, scale {SCALE:g}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="maelstrom-reliability-") as tmp:
        stack = Stack(Path(tmp))
        try:
            if not control_runs(stack, 0, 30):
                sys.exit("the stack did not start: no loop state from the controller")
            phases = {
                "mqtt": lambda: mqtt_fuzz(stack),
                "ws": lambda: asyncio.run(ws_fuzz(stack)),
                "serial": lambda: asyncio.run(serial_fuzz()),
                "kill": lambda: crash_campaign(stack),
                "soak": lambda: soak_row(stack),
                "rest": lambda: rest_fuzz(stack),
            }
            for name, phase in phases.items():
                if PHASES and name not in PHASES:
                    continue
                rows.append(phase())
                print(table(rows[-1:]).splitlines()[-1], flush=True)
                if rows[-1].tracebacks:
                    print(stack.first_traceback(), flush=True)
        finally:
            stack.stop()
    print()
    print(table(rows))
    failed = [r.what for r in rows if not r.ok]
    print("\nall goals met" if not failed else f"\ngoals not met: {', '.join(failed)}")


if __name__ == "__main__":
    main()
