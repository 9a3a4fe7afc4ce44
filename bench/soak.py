"""The soak of `make reliability`: 100 browsers on `maelstrom/#` of one API (its bridge)
while 200 msg/s flow, for a few minutes.

Browsers: a few headless Chromium pages (a real browser's WebSocket, on the API's
own origin) and the rest aiohttp WebSocket clients in a process of their own (a
hundred Chromium pages do not fit on two cores beside the system under test).
Every one subscribes to `maelstrom/#`, as the Debugger does, before the publisher
starts; the publisher sends numbered messages on ten `maelstrom/data/soak/…`
topics at a steady rate, stamped with the time they were handed to paho.

Latency is the probe's: one of the aiohttp browsers, in a process of its own;
the same over every browser is reported too (it includes the load generator's own
queueing). Reported: deliveries, messages lost (a browser that did not get a number it
should have, counted per topic; the bridge's own coalescing for a slow browser is
reported apart and is not a loss), browsers closed, delivered-message latency
p50/p99 over the whole run and p99 in its first and last minute, the API
process's memory at the start and end with its slope, and its CPU.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import statistics
import threading
import time
import uuid
from array import array
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

PREFIX = "maelstrom/data/soak/"
TOPICS = [f"{PREFIX}t{i}" for i in range(10)]
SAMPLE_S = 5.0


@dataclass
class Tally:
    """What one process's browsers saw: counts, losses, latencies (µs, by second of the run)."""

    received: int = 0
    lost: int = 0
    closed: int = 0
    latencies: array = field(default_factory=lambda: array("q"))  # µs
    seconds: array = field(default_factory=lambda: array("i"))  # when, from the start

    def merge(self, other: Tally) -> None:
        self.received += other.received
        self.lost += other.lost
        self.closed += other.closed
        self.latencies.extend(other.latencies)
        self.seconds.extend(other.seconds)


# --- aiohttp browsers (a child process) --------------------------------------------------------
def browsers_main(conn: Connection, url: str, count: int) -> None:
    asyncio.run(_browsers(conn, url, count))


async def _browsers(conn: Connection, url: str, count: int) -> None:
    tally = Tally()
    started_ns = [0]
    gate = asyncio.Semaphore(20)

    async def one(http: aiohttp.ClientSession) -> tuple[Any, dict[str, int]]:
        async with gate:
            ws = await http.ws_connect(url, max_msg_size=0, heartbeat=None)
            await ws.send_str(json.dumps({"op": "subscribe", "topic": "maelstrom/#"}))
            while True:
                frame = json.loads((await ws.receive()).data)
                if frame.get("op") == "subscribed":
                    return ws, {}

    async def read(ws: Any, last: dict[str, int]) -> None:
        loads, now_ns = json.loads, time.monotonic_ns

        def saw(message: dict[str, Any], now: int) -> None:
            topic = message["topic"]
            if not topic.startswith(PREFIX) or message.get("retained"):
                return
            seq = message["payload"]["seq"]
            before = last.get(topic, -1)
            if seq > before + 1:
                tally.lost += seq - before - 1
            last[topic] = max(before, seq)
            tally.received += 1
            tally.latencies.append((now - message["payload"]["t"]) // 1000)
            tally.seconds.append((now - started_ns[0]) // 1_000_000_000)

        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            frame = loads(msg.data)
            now = now_ns()
            if frame["op"] == "message":
                saw(frame, now)
            elif frame["op"] == "batch":
                for message in frame["messages"]:
                    saw(message, now)
        tally.closed += 1

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        opened = await asyncio.gather(*(one(http) for _ in range(count)))
        readers = [asyncio.create_task(read(ws, last)) for ws, last in opened]
        conn.send(("ready",))
        command = await asyncio.to_thread(conn.recv)
        started_ns[0] = command[1]
        expected = await asyncio.to_thread(conn.recv)  # ("finish", sent per topic)
        # What is still on its way: until every browser has the last number of each topic.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if tally.received + tally.lost >= expected[1] * len(TOPICS) * count:
                break
            await asyncio.sleep(0.1)
        for (ws, last), task in zip(opened, readers, strict=True):
            # Numbers never seen at the end of a topic are lost too.
            for topic in TOPICS:
                tally.lost += max(0, expected[1] - 1 - last.get(topic, -1))
            task.cancel()
            with contextlib.suppress(Exception):
                await ws.close()
        conn.send(
            (
                "tally",
                tally.received,
                tally.lost,
                tally.closed,
                tally.latencies.tobytes(),
                tally.seconds.tobytes(),
            )
        )


# --- Chromium pages ------------------------------------------------------------------------------
PAGE_JS = """
([url, prefix]) => {
  const s = {received: 0, lost: 0, closed: 0, last: {}, lat: [], sec: [], t0: 0};
  window.soak = s;
  const ws = new WebSocket(url);
  const saw = (m) => {
    if (!m.topic.startsWith(prefix) || m.retained) return;
    const seq = m.payload.seq, before = (m.topic in s.last) ? s.last[m.topic] : -1;
    if (seq > before + 1) s.lost += seq - before - 1;
    s.last[m.topic] = Math.max(before, seq);
    s.received += 1;
    const now = Date.now();
    s.lat.push(Math.round((now - m.payload.w) * 1000));
    s.sec.push(Math.floor((now - s.t0) / 1000));
  };
  ws.onmessage = (e) => {
    const f = JSON.parse(e.data);
    if (f.op === "message") saw(f);
    else if (f.op === "batch") f.messages.forEach(saw);
  };
  ws.onclose = () => { s.closed += 1; };
  return new Promise((resolve, reject) => {
    ws.onopen = () => ws.send(JSON.stringify({op: "subscribe", topic: "maelstrom/#"}));
    ws.addEventListener("message", (e) => {
      if (JSON.parse(e.data).op === "subscribed") resolve(true);
    });
    ws.onerror = () => reject(new Error("socket error"));
  });
}
"""


async def _open_pages(http_url: str, count: int) -> tuple[Any, Any, list[Any]]:
    from playwright.async_api import async_playwright

    playwright = await async_playwright().start()
    browser = await playwright.chromium.launch(
        executable_path="/usr/bin/chromium", args=["--no-sandbox"]
    )
    pages = []
    ws_url = http_url.replace("http://", "ws://") + "/ws"
    for _ in range(count):
        page = await browser.new_page()
        await page.goto(http_url + "/api/health")  # the API's own origin, a small page
        await page.evaluate(PAGE_JS, [ws_url, PREFIX])
        pages.append(page)
    return playwright, browser, pages


async def _page_tally(page: Any, sent_per_topic: int) -> Tally:
    s = await page.evaluate("() => window.soak")
    tally = Tally(received=s["received"], lost=s["lost"], closed=s["closed"])
    for topic in TOPICS:
        tally.lost += max(0, sent_per_topic - 1 - s["last"].get(topic, -1))
    tally.latencies.extend(int(x) for x in s["lat"])
    tally.seconds.extend(int(x) for x in s["sec"])
    return tally


# --- the publisher and the API's process ------------------------------------------------------
def publish(port: int, rate: float, seconds: float, stop: threading.Event) -> int:
    """Numbered messages round-robin on TOPICS at `rate`; returns how many per topic."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"soak-{uuid.uuid4().hex[:6]}")
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    count = int(rate * seconds) // len(TOPICS) * len(TOPICS)
    interval = 1.0 / rate
    due = time.monotonic()
    last = None
    for n in range(count):
        if stop.is_set():
            break
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        due += interval
        payload = (
            f'{{"seq":{n // len(TOPICS)},"t":{time.monotonic_ns()},'
            f'"w":{time.time() * 1000:.3f},"pad":"{"x" * 120}"}}'
        )
        last = client.publish(TOPICS[n % len(TOPICS)], payload, qos=1)
    if last is not None:
        last.wait_for_publish(30)
    client.loop_stop()
    client.disconnect()
    return count // len(TOPICS)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    import os

    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def slope_per_min(samples: list[tuple[float, float]]) -> float:
    if len(samples) < 3:
        return float("nan")
    xs = [t for t, _ in samples]
    ys = [v for _, v in samples]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den * 60 if den else 0.0


@dataclass
class SoakResult:
    browsers: int
    chromium: int
    seconds: float
    sent: int
    tally: Tally
    probe: Tally
    coalesced: int
    closed_slow: int
    rss_start: float
    rss_end: float
    rss_slope: float
    cpu: float

    def p(
        self, q: float, lo: int | None = None, hi: int | None = None, probe: bool = True
    ) -> float:
        """Latency percentile in ms (of the probe, or of every browser), seconds lo..hi."""
        tally = self.probe if probe else self.tally
        values = sorted(
            v
            for v, s in zip(tally.latencies, tally.seconds, strict=True)
            if (lo is None or s >= lo) and (hi is None or s < hi)
        )
        if not values:
            return float("nan")
        return values[min(len(values) - 1, int(q * len(values)))] / 1000

    @property
    def expected(self) -> int:
        return self.sent * len(TOPICS) * self.browsers


async def soak(
    http_url: str,
    broker_port: int,
    api_pid: int,
    *,
    browsers: int = 100,
    chromium: int = 3,
    rate: float = 200.0,
    seconds: float = 180.0,
) -> SoakResult:
    ctx = multiprocessing.get_context("spawn")
    ws_url = http_url.replace("http://", "ws://") + "/ws"
    # The probe: one browser in a process of its own, whose latency is the server's,
    # not that of a load generator decoding 20 000 messages a second on a busy machine.
    groups = {"probe": 1, "crowd": browsers - chromium - 1}
    procs: dict[str, tuple[Connection, Any]] = {}
    for name, count in groups.items():
        end, child = ctx.Pipe()
        proc = ctx.Process(target=browsers_main, args=(child, ws_url, count))
        proc.start()
        procs[name] = (end, proc)
    playwright = browser = None
    try:
        for end, _ in procs.values():
            await asyncio.to_thread(end.recv)  # ("ready",)
        try:
            playwright, browser, pages = await _open_pages(http_url, chromium)
        except Exception as exc:  # no Chromium here: aiohttp browsers only
            print(f"soak: Chromium not available ({exc!r}); aiohttp browsers only", flush=True)
            pages, chromium = [], 0
        for page in pages:
            await page.evaluate("() => { window.soak.t0 = Date.now(); }")
        started = time.monotonic()
        for end, _ in procs.values():
            end.send(("start", time.monotonic_ns()))
        cpu0, stop = cpu_s(api_pid), threading.Event()
        publisher = asyncio.ensure_future(
            asyncio.to_thread(publish, broker_port, rate, seconds, stop)
        )
        memory: list[tuple[float, float]] = [(0.0, rss_mb(api_pid))]
        while not publisher.done():
            await asyncio.wait({publisher}, timeout=SAMPLE_S)
            memory.append((time.monotonic() - started, rss_mb(api_pid)))
        sent = publisher.result()
        took = time.monotonic() - started
        cpu = (cpu_s(api_pid) - cpu0) / took
        tallies: dict[str, Tally] = {}
        for end, _ in procs.values():
            end.send(("finish", sent))
        for name, (end, _) in procs.items():
            _, received, lost, closed, raw_lat, raw_sec = await asyncio.to_thread(end.recv)
            tallies[name] = Tally(received, lost, closed)
            tallies[name].latencies.frombytes(raw_lat)
            tallies[name].seconds.frombytes(raw_sec)
        probe = tallies["probe"]
        tally = Tally()
        for one in tallies.values():
            tally.merge(one)
        for page in pages:
            tally.merge(await _page_tally(page, sent))
        stats = json.loads(await asyncio.to_thread(_get, http_url + "/ws/stats"))
    finally:
        if browser is not None:
            await browser.close()
        if playwright is not None:
            await playwright.stop()
        for _, proc in procs.values():
            proc.join(15)
            if proc.is_alive():
                proc.terminate()
    return SoakResult(
        browsers=browsers,
        chromium=chromium,
        seconds=took,
        sent=sent,
        tally=tally,
        probe=probe,
        coalesced=int(stats.get("dropped", 0)),
        closed_slow=int(stats.get("closed_slow", 0)),
        rss_start=memory[0][1],
        rss_end=memory[-1][1],
        rss_slope=slope_per_min(memory[len(memory) // 4 :]),  # after warm-up
        cpu=cpu,
    )


def _get(url: str) -> bytes:
    import urllib.request

    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.read()
