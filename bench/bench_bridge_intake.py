"""The bridge's intake: how many MQTT messages a second one bridge takes in, and where losses are.

Four bridges, one after the other, against the same Mosquitto, pinned to the same
CPU, each with one browser subscribed to `maelstrom/data/bench/#` (an aiohttp
WebSocket, as in bench_bridge) while a publisher offers ~200-byte messages at
fixed rates for `BENCH_DURATION` seconds each:

* before/thread — the bridge at `BASELINE` (`git archive` into a temp dir), as it ran:
  paho's network thread, one batch per browser per batch window;
* before/loop — the same tree with the event-loop MQTT driver switched on;
* after/thread and after/loop — this work tree, `MAELSTROM_BRIDGE_MQTT_DRIVER=thread|loop`.

For every rate: what the publisher sent; what the broker dropped (Mosquitto's
`$SYS/broker/publish/messages/dropped`: the bridge did not read fast enough and
its queue at the broker overflowed); what the bridge took in (`mqtt_in` of
`/ws/stats`; for a tree without it, sent − dropped at the broker); what the
bridge lost (taken in but never delivered: coalesced away in the browser's
outbox, counted by `dropped`, or still queued); the bridge's own CPU per message
taken in (from /proc) and the intake that implies on one core.

`BENCH_RATES` (default 5000,10000,15000,20000,25000), `BENCH_DURATION` (5 s),
`BENCH_SIDES` (e.g. `after/loop,after/thread`), `BENCH_PIN=0` (no pinning),
`BENCH_PROFILE=<path>` (cProfile of the after/loop bridge).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

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
from bench.bridge_load import raw_publisher_main, receiver_main

BASELINE = os.environ.get("BENCH_BASELINE_COMMIT", "37602cdbf3b460934a064032015c4390c6d1e2e7")
"""main before the outbox sent more than one batch per window (issue 13)."""
LOOP_SWITCH = ("in_loop=False", "in_loop=True")
"""How the baseline's hub.py is switched to the event-loop driver."""
RATES = tuple(
    int(r) for r in os.environ.get("BENCH_RATES", "5000,10000,15000,20000,25000").split(",")
)
DURATION = float(os.environ.get("BENCH_DURATION", "5"))
SIDES = tuple(
    os.environ.get("BENCH_SIDES", "before/thread,before/loop,after/thread,after/loop").split(",")
)
BROKER_CPU = os.environ.get("BENCH_BROKER_CPU", "load")
"""`load`: Mosquitto beside the publisher and the browser, the bridge alone on its CPU (its
intake on one core); `server`: Mosquitto on the bridge's CPU (both on one core)."""
TARGET = 20_000  # msg/s per bridge (issue 13)
KEPT_UP_P99_MS = 1000.0
SYS_DROPPED = "$SYS/broker/publish/messages/dropped"
SYS_INTERVAL = 1


@dataclass
class Intake:
    side: str
    rate: int
    sent: int
    seconds: float
    broker_dropped: int
    taken_in: int
    counted: bool
    """`taken_in` is the bridge's own mqtt_in (not sent − dropped at the broker)."""
    coalesced: int
    delivered: int
    bridge_cpu_s: float
    p50_ms: float
    p99_ms: float
    behind: int | None
    """Messages sent but not yet taken in by the bridge when the publisher finished."""
    client_cpu: float
    """The browser's (receiver's) share of a CPU: near 100 % it, not the bridge, is the limit."""
    starved: float
    """Share of the publishing time the bridge was ready to run but waited for its CPU
    (other processes on it: /proc/<pid>/task/*/schedstat, summed over its threads)."""

    @property
    def offered(self) -> float:
        return self.sent / self.seconds

    @property
    def lost_at_bridge(self) -> int:
        return max(0, self.taken_in - self.delivered)

    @property
    def complete(self) -> float:
        return self.delivered / max(1, self.sent)

    @property
    def cpu_us(self) -> float:
        return self.bridge_cpu_s / max(1, self.taken_in) * 1e6

    @property
    def capacity(self) -> float:
        return 1e6 / self.cpu_us if self.cpu_us else float("nan")

    @property
    def kept_up(self) -> bool:
        """Every message delivered, none of them late by a second or more (a bridge that
        only queues shows p99 in seconds after a 5 s run, and loses on longer ones)."""
        return self.delivered >= self.sent and self.p99_ms < KEPT_UP_P99_MS


class BrokerDrops:
    """Mosquitto's count of messages it dropped, read from `$SYS` (updated every second)."""

    def __init__(self, port: int) -> None:
        self.value: int | None = None
        self._fresh = threading.Event()
        self._client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=f"bench-sys-{uuid.uuid4().hex[:6]}"
        )
        self._client.on_message = self._on_message
        self._client.connect("127.0.0.1", port)
        self._client.loop_start()

    def _on_message(self, client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        with contextlib.suppress(ValueError):
            self.value = int(msg.payload)
            self._fresh.set()

    def read(self) -> int:
        """The count as of now: after the next $SYS update, from its retained message."""
        time.sleep(SYS_INTERVAL + 0.3)
        self._fresh.clear()
        self._client.unsubscribe(SYS_DROPPED)
        self._client.subscribe(SYS_DROPPED)
        self._fresh.wait(3.0)
        return self.value or 0

    def close(self) -> None:
        self._client.loop_stop()
        self._client.disconnect()


def baseline_tree(into: Path, loop: bool) -> Path | None:
    """The bridge as it was at BASELINE (its loop driver switched on if `loop`), or None."""
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        into.mkdir()
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", BASELINE, "services"],
            check=True,
            capture_output=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
        if loop:
            hub = into / "services" / "bridge" / "hub.py"
            text = hub.read_text()
            if LOOP_SWITCH[0] not in text:
                return None
            hub.write_text(text.replace(*LOOP_SWITCH))
        return into
    return None


def start_bridge(
    tree: Path, driver: str, broker_port: int, http_port: int, cpus: set[int] | None
) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.update(
        MAELSTROM_MQTT_URL=f"mqtt://127.0.0.1:{broker_port}",
        MAELSTROM_HTTP_HOST="127.0.0.1",
        MAELSTROM_HTTP_PORT=str(http_port),
        MAELSTROM_LOG_LEVEL="WARNING",
        MAELSTROM_BRIDGE_MQTT_DRIVER=driver,
        PYTHONPATH=str(tree),
    )
    profile = os.environ.get("BENCH_PROFILE")
    command = [sys.executable, "-m", "services.bridge"]
    if profile and tree == REPO and driver == "loop":
        command[1:1] = ["-m", "cProfile", "-o", profile]
    return subprocess.Popen(command, cwd=tree, env=env, preexec_fn=pinned(cpus))


def measure(
    side: str,
    tree: Path,
    broker_port: int,
    drops: BrokerDrops,
    cpus: dict[str, set[int] | None],
) -> list[Intake]:
    ctx = multiprocessing.get_context("spawn")
    http_port = free_port()
    bridge = start_bridge(tree, side.split("/")[1], broker_port, http_port, cpus["server"])
    results: list[Intake] = []
    try:
        wait_for(lambda: bridge_stats(http_port)["broker"] == "online", 20, f"{side} bridge")
        pub, pub_child = ctx.Pipe()
        publisher = ctx.Process(
            target=raw_publisher_main, args=(pub_child, "127.0.0.1", broker_port, cpus["load"])
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
            dropped_before = drops.read()
            stats_before = _stats_or_none(http_port, 60.0) or bridge_stats(http_port)
            cpu_before = cpu_seconds(bridge.pid)
            waited_before = runqueue_seconds(bridge.pid)
            wall_before = time.monotonic()
            rcv.send(("start", run))
            pub.send(("publish", run, rate, DURATION))
            _, sent, took = pub.recv()
            waited = runqueue_seconds(bridge.pid) - waited_before
            wall = time.monotonic() - wall_before
            at_end = _stats_or_none(http_port, 5.0)  # a starved bridge may not answer
            rcv.send(("finish", sent, QUIET))
            _, delivered, _frames, raw, client_cpu = rcv.recv()
            cpu = cpu_seconds(bridge.pid) - cpu_before
            stats = _stats_or_none(http_port, 60.0) or stats_before
            broker_dropped = drops.read() - dropped_before
            counted = "mqtt_in" in stats
            taken_in = (
                stats["mqtt_in"] - stats_before["mqtt_in"] if counted else sent - broker_dropped
            )
            behind = (
                sent - (at_end["mqtt_in"] - stats_before["mqtt_in"])
                if counted and at_end is not None
                else None
            )
            latencies = sorted(array("q", raw))
            result = Intake(
                side,
                rate,
                sent,
                took,
                broker_dropped,
                taken_in,
                counted,
                stats["dropped"] - stats_before["dropped"],
                delivered,
                cpu,
                percentile(latencies, 0.5),
                percentile(latencies, 0.99),
                behind,
                client_cpu,
                waited / wall,
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
        f"{r.side:13} {r.rate:>6}/s offered ({r.offered:6.0f}/s sent)  "
        f"delivered {r.complete:6.1%}  lost at broker {r.broker_dropped:6}  "
        f"at bridge {r.lost_at_bridge:6} (coalesced {r.coalesced})  "
        f"bridge CPU {r.cpu_us:5.1f} µs/msg (≈ {r.capacity:6.0f}/s on one core)  "
        f"p50 {r.p50_ms:6.1f} ms  p99 {r.p99_ms:7.1f} ms  "
        f"behind at the end {'–' if r.behind is None else r.behind}  "
        f"browser CPU {r.client_cpu:.0%}  waited for its CPU {r.starved:.0%}"
    )


def table(results: list[Intake]) -> str:
    lines = [
        "| bridge | offered msg/s | sent | lost at broker | lost at bridge (coalesced) "
        "| delivered | bridge CPU µs/msg | ≈ msg/s on one core | p50 / p99 ms "
        "| not yet taken in when publishing ended | bridge waited for its CPU |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    for r in results:
        at_bridge = f"{r.lost_at_bridge:,} ({r.coalesced:,})" + ("" if r.counted else "*")
        lines.append(
            f"| {r.side} | {r.rate:,} | {r.sent:,} | {r.broker_dropped:,} | {at_bridge} "
            f"| {r.complete:.1%} | {r.cpu_us:.1f} | {r.capacity:,.0f} "
            f"| {r.p50_ms:.0f} / {r.p99_ms:.0f} | {'–' if r.behind is None else f'{r.behind:,}'} "
            f"| {r.starved:.0%} |"
        )
    if any(not r.counted for r in results):
        lines.append("")
        lines.append("\\* taken in = sent − lost at broker (that tree's /ws/stats has no mqtt_in)")
    return "\n".join(lines)


def sustained(results: list[Intake], side: str) -> int:
    """The highest offered rate `side` kept up with (and every rate below it)."""
    best = 0
    for r in sorted((r for r in results if r.side == side), key=lambda r: r.rate):
        if not r.kept_up:
            break
        best = r.rate
    return best


def main() -> None:
    cpus = sorted(os.sched_getaffinity(0))
    if os.environ.get("BENCH_PIN", "1") == "0":
        cpus = cpus[:1]
    split = len(cpus) >= 2
    pins = {"server": {cpus[0]} if split else None, "load": set(cpus[1:]) if split else None}
    with tempfile.TemporaryDirectory() as tmp:
        port, ws_port = free_port(), free_port()
        broker = start_mosquitto(
            Path(tmp), port, ws_port, pins[BROKER_CPU], (f"sys_interval {SYS_INTERVAL}",)
        )
        drops: BrokerDrops | None = None
        try:
            wait_for(lambda: _connectable(port), 10, "mosquitto did not start")
            drops = BrokerDrops(port)
            print(
                f"bridge intake, one browser, ~200-byte messages, {DURATION:g} s per rate; "
                f"before = {BASELINE[:10]}, after = this tree; load average {_load()}",
                flush=True,
            )
            results: list[Intake] = []
            for side in SIDES:
                version, driver = side.split("/")
                tree = (
                    REPO
                    if version == "after"
                    else baseline_tree(Path(tmp) / side.replace("/", "-"), driver == "loop")
                )
                if tree is None:
                    print(f"({side}: no baseline tree, not measured)")
                    continue
                results.extend(measure(side, tree, port, drops, pins))
            print()
            print(table(results))
            print()
            for side in SIDES:
                best = sustained(results, side)
                print(
                    f"{side}: kept up (all delivered, p99 < {KEPT_UP_P99_MS / 1000:g} s) "
                    f"up to {best:,} msg/s offered "
                    f"({'meets' if best >= TARGET else 'below'} the {TARGET:,} msg/s target)"
                )
            print(f"load average after: {_load()}")
        finally:
            if drops is not None:
                drops.close()
            broker.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                broker.wait(5)


def runqueue_seconds(pid: int) -> float:
    """Time every thread of `pid` spent runnable but waiting for a CPU (schedstat field 2)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError, IndexError):
            total += int((task / "schedstat").read_text().split()[1])
    return total / 1e9


def _stats_or_none(http_port: int, timeout: float) -> dict[str, Any] | None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return bridge_stats(http_port)
        except OSError:
            if time.monotonic() > deadline:
                return None


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def _connectable(port: int) -> bool:
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True


if __name__ == "__main__":
    main()
