"""The bridge's intake: how many MQTT messages a second one bridge takes in, before and after.

"Before" is the bridge as it was at `BASELINE` (paho's network thread handing every
message to the event loop, the standard library's `json` on the hot path),
extracted with `git archive` into a temp dir; "after" is this work tree. Both run
as `python -m services.bridge` against the same Mosquitto, one after the other,
pinned to the same CPU, with one browser subscribed to `maelstrom/data/bench/#`
(an aiohttp WebSocket, as in bench_bridge) and a publisher offering ~200-byte
messages at fixed rates for a few seconds each.

Figures per side and rate: the share delivered, deliveries a second, the bridge's
own CPU per message (from /proc; robust to other load on the machine), and the
intake it implies on one core (1 s ÷ CPU per message). The ratio after ÷ before
is printed in the same run. `BENCH_PIN=0` turns the pinning off.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import subprocess
import sys
import tempfile
from array import array
from dataclasses import dataclass
from pathlib import Path

from bench.bench_bridge import (
    QUIET,
    REPO,
    bridge_stats,
    cpu_seconds,
    free_port,
    percentile,
    pinned,
    start_mosquitto,
    wait_for,
)
from bench.bridge_load import publisher_main, receiver_main

BASELINE = "b97a13735343b9ba040999b311bb98d40784b16f"
"""main before the event-loop MQTT driver and orjson (issue 13)."""
RATES = tuple(int(r) for r in os.environ.get("BENCH_RATES", "5000,10000,20000,30000").split(","))
DURATION = 3.0
TARGET = 20_000  # msg/s per bridge (issue 13)


@dataclass
class Intake:
    side: str
    rate: int
    sent: int
    delivered: int
    seconds: float
    bridge_cpu_s: float
    p50_ms: float
    p99_ms: float

    @property
    def complete(self) -> float:
        return self.delivered / max(1, self.sent)

    @property
    def per_second(self) -> float:
        return self.delivered / self.seconds

    @property
    def cpu_us(self) -> float:
        return self.bridge_cpu_s / max(1, self.delivered) * 1e6

    @property
    def capacity(self) -> float:
        return 1e6 / self.cpu_us if self.cpu_us else float("nan")


def baseline_tree(into: Path) -> Path | None:
    """The bridge as it was at BASELINE, or None without git (the figure is then 'after' only)."""
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", BASELINE, "services"],
            check=True,
            capture_output=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
        return into
    return None


def start_bridge(
    tree: Path, broker_port: int, http_port: int, cpus: set[int] | None
) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.update(
        MAELSTROM_MQTT_URL=f"mqtt://127.0.0.1:{broker_port}",
        MAELSTROM_HTTP_HOST="127.0.0.1",
        MAELSTROM_HTTP_PORT=str(http_port),
        MAELSTROM_LOG_LEVEL="WARNING",
        PYTHONPATH=str(tree),
    )
    profile = os.environ.get("BENCH_PROFILE")  # a path: cProfile of the "after" bridge
    command = [sys.executable, "-m", "services.bridge"]
    if profile and tree == REPO:
        command[1:1] = ["-m", "cProfile", "-o", profile]
    return subprocess.Popen(command, cwd=tree, env=env, preexec_fn=pinned(cpus))


def measure(
    side: str, tree: Path, broker_port: int, cpus: dict[str, set[int] | None]
) -> list[Intake]:
    ctx = multiprocessing.get_context("spawn")
    http_port = free_port()
    bridge = start_bridge(tree, broker_port, http_port, cpus["server"])
    results: list[Intake] = []
    try:
        wait_for(lambda: bridge_stats(http_port)["broker"] == "online", 20, f"{side} bridge")
        pub, pub_child = ctx.Pipe()
        publisher = ctx.Process(
            target=publisher_main, args=(pub_child, "127.0.0.1", broker_port, cpus["load"])
        )
        publisher.start()
        pub.recv()
        rcv, rcv_child = ctx.Pipe()
        url = f"ws://127.0.0.1:{http_port}/ws"
        receiver = ctx.Process(
            target=receiver_main, args=(rcv_child, "bridge", url, 1, cpus["load"])
        )
        receiver.start()
        rcv.recv()
        for run, rate in enumerate(RATES, start=1):
            cpu_before = cpu_seconds(bridge.pid)
            rcv.send(("start", run))
            pub.send(("publish", run, rate, DURATION))
            _, sent, took = pub.recv()
            rcv.send(("finish", sent, QUIET))
            _, delivered, _frames, raw, _client_cpu = rcv.recv()
            latencies = sorted(array("q", raw))
            result = Intake(
                side,
                rate,
                sent,
                delivered,
                took,
                cpu_seconds(bridge.pid) - cpu_before,
                percentile(latencies, 0.5),
                percentile(latencies, 0.99),
            )
            results.append(result)
            print(_line(result), flush=True)
        pub.send(("quit",))
        rcv.send(("quit",))
        publisher.join(10)
        receiver.join(10)
    finally:
        bridge.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            bridge.wait(5)
    return results


def _line(r: Intake) -> str:
    return (
        f"{r.side:6} {r.rate:>6}/s offered  delivered {r.complete:6.1%} {r.per_second:8.0f}/s  "
        f"bridge CPU {r.cpu_us:5.1f} µs/msg (≈ {r.capacity:7.0f} msg/s on one core)  "
        f"p50 {r.p50_ms:6.1f} ms  p99 {r.p99_ms:7.1f} ms"
    )


def table(before: list[Intake], after: list[Intake]) -> str:
    lines = [
        "| offered msg/s | delivered before / after | bridge CPU µs per message before / after "
        "(after ÷ before) | intake on one core before / after | p99 ms before / after |",
        "|---:|---|---|---|---|",
    ]
    by_rate = {r.rate: r for r in before}
    for a in after:
        b = by_rate.get(a.rate)
        if b is None:
            lines.append(
                f"| {a.rate:,} | – / {a.complete:.1%} | – / {a.cpu_us:.1f} | – / {a.capacity:,.0f} "
                f"| – / {a.p99_ms:.1f} |"
            )
            continue
        lines.append(
            f"| {a.rate:,} | {b.complete:.1%} / {a.complete:.1%} "
            f"| {b.cpu_us:.1f} / {a.cpu_us:.1f} ({a.cpu_us / b.cpu_us:.2f}) "
            f"| {b.capacity:,.0f} / {a.capacity:,.0f} | {b.p99_ms:.1f} / {a.p99_ms:.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    cpus = sorted(os.sched_getaffinity(0))
    if os.environ.get("BENCH_PIN", "1") == "0":
        cpus = cpus[:1]
    split = len(cpus) >= 2
    pins = {"server": {cpus[0]} if split else None, "load": set(cpus[1:]) if split else None}
    with tempfile.TemporaryDirectory() as tmp:
        port, ws_port = free_port(), free_port()
        broker = start_mosquitto(Path(tmp), port, ws_port, pins["server"])
        try:
            wait_for(lambda: _connectable(port), 10, "mosquitto did not start")
            print(
                f"bridge intake, one browser, ~200-byte messages, {DURATION:.0f} s per rate; "
                f"before = {BASELINE[:10]}, after = this tree",
                flush=True,
            )
            (Path(tmp) / "before").mkdir()
            old = baseline_tree(Path(tmp) / "before")
            skip = os.environ.get("BENCH_BASELINE") == "0"
            before = measure("before", old, port, pins) if old and not skip else []
            if old is None:
                print("(no git: the baseline is not measured)")
            after = measure("after", REPO, port, pins)
            print()
            print(table(before, after))
            best = max((a.capacity for a in after if a.complete >= 0.99), default=0.0)
            print(
                f"\nintake on one core (after): ≈ {best:,.0f} msg/s "
                f"({'meets' if best >= TARGET else 'below'} the {TARGET:,} msg/s target)"
            )
        finally:
            broker.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                broker.wait(5)


def _connectable(port: int) -> bool:
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True


if __name__ == "__main__":
    main()
