"""The REST read path against `/api/health`, and command → target echo latency.

One real stack, as `make run-all` starts it: a Mosquitto on a free port, the API
(`python -m services.api`, demo seed, a temp SQLite file) and the controller
(`python -m services.controller`, driving the demo's simulated boards on ptys).

Throughput: a load generator in another process (wrk when it is installed —
`scripts/install-system-deps.sh --bench` — else a small multi-process aiohttp
client) hits `GET /api/loops/{id}`, `GET /api/loops` and `GET /api/openapi.json`,
each in slices alternating with `GET /api/health` on the same server, so the ratio
compares two handlers under the same machine load (`BENCH_API_LOAD=python` forces
the Python client). `/api/health` is the floor a handler cannot
beat: routing, middleware and a one-line JSON body.

Latency: "command sent → `maelstrom/data/<loop>` shows the new sp", over MQTT
(publish to `maelstrom/cmd/loops/<loop>/setpoint`, as mosquitto_pub does) and
over REST (`POST /api/loops/<loop>/setpoint`; its response time is shown too).
That is what a user sees whichever service applies the command.

With `BENCH_PIN=1` (default) the API server runs on the first CPU and the load
generator on the other(s); `BENCH_PIN=0` turns that off.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.common.topics import Topics
from tests.support.broker import Broker
from tests.support.ports import free_port, wait_for_port
from tests.support.services import service_env

LOOP = "fermenter"
PATHS = (f"/api/loops/{LOOP}", "/api/loops", "/api/openapi.json")
BASELINE = "/api/health"
DURATION_S = float(os.environ.get("BENCH_API_SECONDS", "6"))
ROUNDS = 3
CONNECTIONS = 16
COMMANDS = int(os.environ.get("BENCH_API_COMMANDS", "40"))
ECHO_TIMEOUT_S = 5.0
GAP_S = 0.2
"""Between two commands: lets the previous one's echoes settle, so each sample is one command."""
TOPICS = Topics()
REPO = Path(__file__).resolve().parents[1]


# --- the stack ----------------------------------------------------------------------------------


def _pin(cpus: set[int]) -> list[str]:
    if os.environ.get("BENCH_PIN", "1") == "0" or not shutil.which("taskset"):
        return []
    usable = cpus & os.sched_getaffinity(0)
    return ["taskset", "-c", ",".join(map(str, sorted(usable)))] if usable else []


def _server_cpus() -> set[int]:
    return {min(os.sched_getaffinity(0))}


def _client_cpus() -> set[int]:
    cpus = os.sched_getaffinity(0)
    rest = cpus - _server_cpus()
    return rest or cpus


class Process:
    """A service as `make run-all` runs it, but in the bench's temp dir: whatever it
    writes to a relative path (a database, its own state) stays out of the repo."""

    def __init__(self, module: str, env: dict[str, str], workdir: Path, pin: list[str]) -> None:
        self.module = module
        self.log_path = workdir / f"{module.rsplit('.', 1)[-1]}.log"
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [*pin, sys.executable, "-m", module],
                cwd=workdir,
                env={**env, "PYTHONPATH": str(REPO)},
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextlib.contextmanager
def running_stack(workdir: Path) -> Iterator[tuple[str, int]]:
    """Broker, API (demo seed) and controller; yields the API's base URL and the broker port."""
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
    services: list[Process] = []
    try:
        services.append(Process("services.api", env, workdir, _pin(_server_cpus())))
        wait_for_port(port, timeout=30)
        services.append(Process("services.controller", env, workdir, []))
        yield f"http://127.0.0.1:{port}", broker.port
    finally:
        for service in reversed(services):
            service.stop()
        broker.stop()
        for service in services:
            if "Traceback" in service.output():
                print(f"--- {service.module} log ---\n{service.output()[-3000:]}")


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.load(resp)


def _wait(what: str, ok: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if ok():
                return
        time.sleep(0.1)
    raise RuntimeError(f"timed out waiting for {what}")


# --- throughput ---------------------------------------------------------------------------------


@dataclass
class Load:
    path: str
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _wrk_ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * _UNITS[unit]


def load_wrk(url: str, path: str, seconds: float) -> Load:
    out = subprocess.run(
        [
            *_pin(_client_cpus()),
            "wrk",
            "-t1",
            f"-c{CONNECTIONS}",
            f"-d{seconds:g}s",
            "--latency",
            url + path,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1)  # type: ignore[union-attr]
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1)  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    n_errors = (int(errors.group(1)) if errors else 0) + (
        sum(int(g) for g in socket.groups()) if socket else 0
    )
    return Load(path, rate, _wrk_ms(p50), _wrk_ms(p99), n_errors)


def _client_main(url: str, seconds: float, connections: int, out: Any) -> None:
    """One load process: `connections` keep-alive clients in a loop, latencies in ms."""
    import asyncio

    import aiohttp

    async def run() -> tuple[list[float], int]:
        latencies: list[float] = []
        errors = 0
        deadline = time.perf_counter() + seconds
        connector = aiohttp.TCPConnector(limit=connections)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def one() -> None:
                nonlocal errors
                while (started := time.perf_counter()) < deadline:
                    async with session.get(url) as resp:
                        await resp.read()
                        if resp.status != 200:
                            errors += 1
                    latencies.append((time.perf_counter() - started) * 1e3)

            await asyncio.gather(*(one() for _ in range(connections)))
        return latencies, errors

    out.send(asyncio.run(run()))


def load_python(url: str, path: str, seconds: float) -> Load:
    procs = max(1, len(_client_cpus()))
    pipes, workers = [], []
    for _ in range(procs):
        mine, theirs = multiprocessing.Pipe()
        args = (url + path, seconds, CONNECTIONS // procs, theirs)
        worker = multiprocessing.Process(target=_client_main, args=args)
        worker.start()
        pipes.append(mine)
        workers.append(worker)
    latencies: list[float] = []
    errors = 0
    for pipe in pipes:
        got, bad = pipe.recv()
        latencies += got
        errors += bad
    for worker in workers:
        worker.join()
    latencies.sort()
    return Load(path, len(latencies) / seconds, _pct(latencies, 50), _pct(latencies, 99), errors)


def side_by_side(load: Callable[[str, str, float], Load], url: str, path: str) -> tuple[Load, Load]:
    """`/api/health` and `path` in alternating slices: on a machine whose other load
    comes and goes, both sides see the same mix of it."""
    health: list[Load] = []
    other: list[Load] = []
    slice_s = max(1, round(DURATION_S / ROUNDS))  # wrk takes whole seconds
    for _ in range(ROUNDS):
        health.append(load(url, BASELINE, slice_s))
        other.append(load(url, path, slice_s))
    return _combine(health), _combine(other)


def _combine(slices: list[Load]) -> Load:
    """Throughput over all slices; the latency percentiles are the slices' median."""
    return Load(
        slices[0].path,
        statistics.fmean(s.requests_per_s for s in slices),
        statistics.median(s.p50_ms for s in slices),
        statistics.median(s.p99_ms for s in slices),
        sum(s.errors for s in slices),
    )


def _pct(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * p / 100))]


# --- command → echo latency ---------------------------------------------------------------------


class StateWatch:
    """Follows `maelstrom/data/<loop>`: wakes a waiter when `sp` becomes the wanted value."""

    def __init__(self, port: int, loop_id: str) -> None:
        import paho.mqtt.client as paho
        from paho.mqtt.enums import CallbackAPIVersion

        self._want: float | None = None
        self._seen = threading.Event()
        self.seen_at = 0.0
        self.states = 0
        self.client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
        self.client.on_message = self._on_message
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.client.subscribe(TOPICS.loop_state(loop_id), qos=0)
        if not subscribed.wait(5):
            raise RuntimeError("could not subscribe to the loop state")

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        now = time.perf_counter()
        try:
            sp = json.loads(message.payload).get("sp")
        except (ValueError, AttributeError):
            return
        self.states += 1
        want = self._want
        if want is not None and isinstance(sp, int | float) and abs(sp - want) < 1e-6:
            self.seen_at = now
            self._seen.set()

    def expect(self, sp: float) -> None:
        self._seen.clear()
        self._want = sp

    def wait(self) -> float | None:
        """perf_counter() of the echo, or None when it did not come in time."""
        if not self._seen.wait(ECHO_TIMEOUT_S):
            return None
        self._want = None
        return self.seen_at

    def publish(self, topic: str, payload: str) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(5)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def _setpoints(n: int) -> list[float]:
    """n setpoints, each different from the one before (18.0 … 20.0 °C)."""
    return [round(18.0 + (i % 21) * 0.1, 1) for i in range(n)]


@dataclass
class Latency:
    road: str
    echo_ms: list[float]
    response_ms: list[float]
    missed: int


def echo_mqtt(watch: StateWatch, n: int) -> Latency:
    echoes: list[float] = []
    missed = 0
    topic = TOPICS.loop_command(LOOP, "setpoint")
    for sp in _setpoints(n):
        watch.expect(sp)
        sent = time.perf_counter()
        watch.publish(topic, f"{sp}")
        seen = watch.wait()
        if seen is None:
            missed += 1
        else:
            echoes.append((seen - sent) * 1e3)
        time.sleep(GAP_S)
    return Latency("MQTT cmd", echoes, [], missed)


def echo_rest(watch: StateWatch, url: str, n: int) -> Latency:
    import http.client

    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    echoes: list[float] = []
    responses: list[float] = []
    missed = 0
    for sp in _setpoints(n):
        watch.expect(sp)
        sent = time.perf_counter()
        conn.request(
            "POST",
            f"/api/loops/{LOOP}/setpoint",
            body=json.dumps({"value": sp}),
            headers={"Content-Type": "application/json"},
        )
        resp = conn.getresponse()
        resp.read()
        responses.append((time.perf_counter() - sent) * 1e3)
        if resp.status != 200:
            missed += 1
            continue
        seen = watch.wait()
        if seen is None:
            missed += 1
        else:
            echoes.append((seen - sent) * 1e3)
        time.sleep(GAP_S)
    conn.close()
    return Latency("REST POST", echoes, responses, missed)


# --- the run ------------------------------------------------------------------------------------


def _machine() -> str:
    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{model}, {os.cpu_count()} CPUs, Python {platform.python_version()}"


def main() -> None:
    use_wrk = shutil.which("wrk") is not None and os.environ.get("BENCH_API_LOAD") != "python"
    load = load_wrk if use_wrk else load_python
    generator = "wrk" if use_wrk else "aiohttp client (install wrk: install-system-deps --bench)"
    print(time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "·", _machine())
    print(
        f"load: {generator}, {CONNECTIONS} connections, {DURATION_S:g} s per path "
        f"in {ROUNDS} slices alternating with /api/health"
    )
    with (
        tempfile.TemporaryDirectory(prefix="maelstrom-bench-api-") as tmp,
        running_stack(Path(tmp)) as (url, broker_port),
    ):
        _wait("a healthy API", lambda: _get_json(url + BASELINE)["status"] == "ok")
        watch = StateWatch(broker_port, LOOP)
        try:
            _wait("the controller's loop state", lambda: watch.states > 0)
            load(url, BASELINE, 1.0)  # warm-up: imports, first connections, caches
            rows = [side_by_side(load, url, path) for path in PATHS]
            latencies = [echo_mqtt(watch, COMMANDS), echo_rest(watch, url, COMMANDS)]
        finally:
            watch.close()
    print_throughput(rows)
    print_latency(latencies)


def print_throughput(rows: list[tuple[Load, Load]]) -> None:
    print("\nThroughput (each path against /api/health on the same server, interleaved):\n")
    print(
        f"{'path':<24}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'health req/s':>14}{'ratio':>8}{'errors':>8}"
    )
    for health, row in rows:
        print(
            f"{row.path:<24}{row.requests_per_s:>9.0f}{row.p50_ms:>9.2f}{row.p99_ms:>9.2f}"
            f"{health.requests_per_s:>14.0f}{row.requests_per_s / health.requests_per_s:>8.2f}"
            f"{row.errors + health.errors:>8}"
        )


def print_latency(latencies: list[Latency]) -> None:
    print("\nCommand → maelstrom/data/<loop> shows the new sp (ms):\n")
    print(f"{'road':<12}{'n':>5}{'echo p50':>10}{'echo p99':>10}{'resp p50':>10}{'resp p99':>10}")
    for lat in latencies:
        echo = sorted(lat.echo_ms)
        resp = sorted(lat.response_ms)

        def cell(values: list[float], p: float) -> str:
            return f"{_pct(values, p):>10.1f}" if values else f"{'—':>10}"

        print(
            f"{lat.road:<12}{len(echo):>5}{cell(echo, 50)}{cell(echo, 99)}"
            f"{cell(resp, 50)}{cell(resp, 99)}"
            + (f"   ({lat.missed} without echo in {ECHO_TIMEOUT_S:g} s)" if lat.missed else "")
        )
    if any(lat.echo_ms for lat in latencies):
        mean = statistics.fmean(v for lat in latencies for v in lat.echo_ms)
        print(f"\n(mean echo over both roads {mean:.1f} ms)")


if __name__ == "__main__":
    main()
    sys.exit(0)
