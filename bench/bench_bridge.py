"""Bridge fan-out against Mosquitto's own WebSocket listener, side by side in one run.

One Mosquitto with a TCP listener and a WebSocket listener. A publisher sends
~200-byte messages at a fixed rate to ten topics; N browsers subscribe to all
of them with `maelstrom/data/bench/#`, either through the bridge (a standalone
`python -m services.bridge`, JSON frames) or straight to Mosquitto's WebSocket
listener (MQTT over WebSocket). For each N and rate the two sides run one
after the other against the same broker, publisher and receivers.

Keeping the load generator's cost out of the figures, as far as two cores allow:
- the publisher, the receivers, the bridge and Mosquitto are separate processes;
  Mosquitto and the bridge are pinned to the first CPU, the load generator to
  the other(s);
- both sides do the same client work (one aiohttp WebSocket per browser,
  `json.loads` per message; the MQTT side's decoder is a minimal one);
- rates are capped at 100 000 deliveries/s, and a row where the receivers were
  busy ≥ 90 % of the time is marked "client-bound": there the figure says more
  about the load generator than about the server;
- the CPU the bridge and Mosquitto used during each run is measured from /proc.
`BENCH_PIN=0` turns the pinning off (better on a machine busy with other work).
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from array import array
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from bench.bridge_load import publisher_main, receiver_main

REPO = Path(__file__).resolve().parents[1]
BROWSERS = (1, 10, 100, 500)
RATES = (10, 100, 1000, 5000)
MAX_DELIVERIES = 100_000
DURATION = 3.0
QUIET = 3.0
"""A run ends when every message arrived, or none came for this long."""
CLIENT_BOUND = 0.9


@dataclass
class Result:
    side: str
    browsers: int
    rate: int
    sent: int
    delivered: int
    seconds: float
    p50_ms: float
    p99_ms: float
    frames: int
    client_cpu: float
    server_cpu: float
    server_cpu_seconds: float
    dropped: int

    @property
    def per_second(self) -> float:
        return self.delivered / self.seconds

    @property
    def complete(self) -> float:
        return self.delivered / (self.sent * self.browsers)

    @property
    def cpu_per_delivery_us(self) -> float:
        """Server CPU per message delivered to one browser: robust to other load."""
        return self.server_cpu_seconds / max(1, self.delivered) * 1e6


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(Exception):
            if check():
                return
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.1)


def pinned(cpus: set[int] | None) -> Any:
    """A preexec_fn that pins a child (and every thread it starts) to `cpus`."""
    if not cpus:
        return None
    return lambda: os.sched_setaffinity(0, cpus)


def cpu_seconds(pid: int) -> float:
    """CPU time of every thread of `pid`, in nanosecond resolution (schedstat)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            total += int((task / "schedstat").read_text().split()[0])
    return total / 1e9


def start_mosquitto(
    workdir: Path, port: int, ws_port: int, cpus: set[int] | None, extra: tuple[str, ...] = ()
) -> subprocess.Popen[bytes]:
    conf = workdir / "mosquitto.conf"
    conf.write_text(
        "\n".join(
            [
                "per_listener_settings false",
                f"listener {port} 127.0.0.1",
                f"listener {ws_port} 127.0.0.1",
                "protocol websockets",
                "allow_anonymous true",
                "set_tcp_nodelay true",
                "max_queued_messages 5000",
                "log_dest stderr",
                "log_type error",
                "user root" if os.geteuid() == 0 else "",
                *extra,
            ]
        )
        + "\n"
    )
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    return subprocess.Popen([binary, "-c", str(conf)], preexec_fn=pinned(cpus))


def start_bridge(
    broker_port: int, http_port: int, cpus: set[int] | None
) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.update(
        MAELSTROM_MQTT_URL=f"mqtt://127.0.0.1:{broker_port}",
        MAELSTROM_HTTP_HOST="127.0.0.1",
        MAELSTROM_HTTP_PORT=str(http_port),
        MAELSTROM_LOG_LEVEL="WARNING",
    )
    return subprocess.Popen(
        [sys.executable, "-m", "services.bridge"], cwd=REPO, env=env, preexec_fn=pinned(cpus)
    )


def bridge_stats(http_port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/ws/stats", timeout=5) as r:
        return json.loads(r.read())


def percentile(values: list[int], q: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(q * len(values)))] / 1e6


def run_once(
    side: str,
    browsers: int,
    rate: int,
    run: int,
    publisher: Connection,
    receiver: Connection,
    server_pids: list[int],
    bridge_port: int,
) -> Result:
    dropped_before = bridge_stats(bridge_port)["dropped"]
    cpu_before = sum(cpu_seconds(p) for p in server_pids)
    started = time.monotonic()
    receiver.send(("start", run))
    publisher.send(("publish", run, rate, DURATION))
    _, sent, took = publisher.recv()
    receiver.send(("finish", sent * browsers, QUIET))
    _, delivered, frames, raw, client_cpu = receiver.recv()
    # Over the whole run, including the time it took to deliver what was still queued.
    server_cpu_seconds = sum(cpu_seconds(p) for p in server_pids) - cpu_before
    server_cpu = server_cpu_seconds / (time.monotonic() - started)
    latencies = sorted(array("q", raw))
    return Result(
        side=side,
        browsers=browsers,
        rate=rate,
        sent=sent,
        delivered=delivered,
        seconds=took,
        p50_ms=percentile(latencies, 0.50),
        p99_ms=percentile(latencies, 0.99),
        frames=frames,
        client_cpu=client_cpu,
        server_cpu=server_cpu,
        server_cpu_seconds=server_cpu_seconds,
        dropped=bridge_stats(bridge_port)["dropped"] - dropped_before,
    )


def main() -> None:
    cpus = sorted(os.sched_getaffinity(0))
    if os.environ.get("BENCH_PIN", "1") == "0":  # on a machine shared with other work
        cpus = cpus[:1]
    server_cpus = {cpus[0]} if len(cpus) >= 2 else None
    load_cpus = set(cpus[1:]) if len(cpus) >= 2 else None
    ctx = multiprocessing.get_context("spawn")
    load_before = _load()
    with tempfile.TemporaryDirectory() as tmp:
        port, ws_port, bridge_port = free_port(), free_port(), free_port()
        broker = start_mosquitto(Path(tmp), port, ws_port, server_cpus)
        bridge: subprocess.Popen[bytes] | None = None
        publisher_proc = None
        try:
            wait_for(lambda: _connectable(ws_port), 10, "mosquitto did not start")
            bridge = start_bridge(port, bridge_port, server_cpus)
            wait_for(lambda: bridge_stats(bridge_port)["broker"] == "online", 20, "bridge")
            pub_end, pub_child = ctx.Pipe()
            publisher_proc = ctx.Process(
                target=publisher_main, args=(pub_child, "127.0.0.1", port, load_cpus)
            )
            publisher_proc.start()
            pub_end.recv()
            sides = {
                "bridge": (f"ws://127.0.0.1:{bridge_port}/ws", [broker.pid, bridge.pid]),
                "mosquitto": (f"ws://127.0.0.1:{ws_port}/", [broker.pid]),
            }
            print(
                f"CPUs: servers on {sorted(server_cpus or os.sched_getaffinity(0))}, "
                f"load generator on {sorted(load_cpus or os.sched_getaffinity(0))}; "
                f"{DURATION:.0f} s per run, ~200-byte messages on 10 topics",
                flush=True,
            )
            results: list[Result] = []
            run = 0
            for browsers in BROWSERS:
                receivers = {}
                for side, (url, _) in sides.items():
                    end, child = ctx.Pipe()
                    proc = ctx.Process(
                        target=receiver_main, args=(child, side, url, browsers, load_cpus)
                    )
                    proc.start()
                    end.recv()
                    receivers[side] = (end, proc)
                for rate in (r for r in RATES if browsers * r <= MAX_DELIVERIES):
                    for side, (_, pids) in sides.items():
                        run += 1
                        result = run_once(
                            side,
                            browsers,
                            rate,
                            run,
                            pub_end,
                            receivers[side][0],
                            pids,
                            bridge_port,
                        )
                        results.append(result)
                        print(_line(result), flush=True)
                for end, proc in receivers.values():
                    end.send(("quit",))
                    proc.join(10)
            pub_end.send(("quit",))
            print()
            print(table(results))
            print(f"\nload average before / after: {load_before} / {_load()}")
        finally:
            if publisher_proc is not None and publisher_proc.is_alive():
                publisher_proc.terminate()
            for proc in (bridge, broker):
                if proc is not None:
                    proc.terminate()
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        proc.wait(5)


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def _connectable(port: int) -> bool:
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True


def _line(r: Result) -> str:
    return (
        f"{r.side:9} N={r.browsers:<3} {r.rate:>5}/s  delivered {r.complete:6.1%} "
        f"{r.per_second:9.0f}/s  p50 {r.p50_ms:7.2f} ms  p99 {r.p99_ms:8.2f} ms  "
        f"msgs/frame {r.delivered / max(1, r.frames):5.1f}  server CPU {r.server_cpu:4.0%} "
        f"({r.cpu_per_delivery_us:5.1f} µs/delivery)  "
        f"client CPU {r.client_cpu:4.0%}  dropped {r.dropped}"
    )


def table(results: list[Result]) -> str:
    """Markdown: bridge and Mosquitto side by side, with ratios (bridge ÷ Mosquitto)."""
    by_key = {(r.side, r.browsers, r.rate): r for r in results}
    lines = [
        "| browsers | msg/s | deliveries/s | p50 ms bridge / mosq (ratio) "
        "| p99 ms bridge / mosq (ratio) | server CPU µs per delivery bridge / mosq (ratio) "
        "| msgs per frame (bridge) | notes |",
        "|---:|---:|---:|---|---|---|---:|---|",
    ]
    for (side, browsers, rate), b in by_key.items():
        if side != "bridge":
            continue
        m = by_key[("mosquitto", browsers, rate)]
        notes = []
        for name, r in (("bridge", b), ("mosquitto", m)):
            if r.complete < 0.999:
                notes.append(f"{name} delivered {r.complete:.1%}")
            if r.client_cpu >= CLIENT_BOUND:
                notes.append(f"{name} client-bound")
        if b.dropped:
            notes.append(f"bridge coalesced {b.dropped}")
        lines.append(
            f"| {browsers} | {rate} | {b.per_second:,.0f} "
            f"| {b.p50_ms:.1f} / {m.p50_ms:.1f} ({_ratio(b.p50_ms, m.p50_ms)}) "
            f"| {b.p99_ms:.1f} / {m.p99_ms:.1f} ({_ratio(b.p99_ms, m.p99_ms)}) "
            f"| {b.cpu_per_delivery_us:.1f} / {m.cpu_per_delivery_us:.1f} "
            f"({_ratio(b.cpu_per_delivery_us, m.cpu_per_delivery_us)}) "
            f"| {b.delivered / max(1, b.frames):.1f} | {'; '.join(notes)} |"
        )
    return "\n".join(lines)


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "–"


if __name__ == "__main__":
    main()
