"""Load generator for bench_bridge: a publisher and WebSocket receivers, each its own process.

Both sides get the same client work: one aiohttp WebSocket per browser, and
`json.loads` of every message. The bridge's frames are JSON (a `batch` frame
carries several messages); Mosquitto's are MQTT 3.1.1 packets over WebSocket,
decoded by the ~40 lines below (CONNECT, SUBSCRIBE, PUBLISH at QoS 0), which
cost less than a general MQTT client would.

Latency is measured from `time.monotonic_ns()` stamped by the publisher just
before it hands the message to paho, to the moment the receiver has decoded
it; CLOCK_MONOTONIC is one clock for every process on the machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import time
import uuid
from array import array
from multiprocessing.connection import Connection
from typing import Any

import aiohttp
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

TOPIC_FILTER = "maelstrom/data/bench/#"
TOPICS = [f"maelstrom/data/bench/t{i}" for i in range(10)]
PAD = "x" * 150  # a loop-state message is about 200 bytes


def pin(cpus: set[int] | None) -> None:
    if cpus:
        with contextlib.suppress(OSError, AttributeError):
            os.sched_setaffinity(0, cpus)


# publisher ---------------------------------------------------------------------------------
def publisher_main(conn: Connection, host: str, port: int, cpus: set[int] | None) -> None:
    pin(cpus)
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{uuid.uuid4().hex[:6]}")
    client.max_queued_messages_set(0)
    client.connect(host, port)
    client.loop_start()
    conn.send(("ready",))
    while True:
        command = conn.recv()
        if command[0] == "quit":
            break
        _, run, rate, duration = command
        count = max(1, int(rate * duration))
        interval = 1.0 / rate
        started = time.monotonic()
        due = started
        for seq in range(count):
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            due += interval
            payload = f'{{"run":{run},"seq":{seq},"t":{time.monotonic_ns()},"pad":"{PAD}"}}'
            client.publish(TOPICS[seq % len(TOPICS)], payload, qos=0)
        conn.send(("done", count, time.monotonic() - started))
    client.loop_stop()
    client.disconnect()


def raw_publisher_main(conn: Connection, host: str, port: int, cpus: set[int] | None) -> None:
    """As `publisher_main`, at a fraction of its CPU: MQTT 3.1.1 PUBLISH packets (QoS 0)
    built by hand and written a millisecond's worth at a time, so on two cores the
    broker is not starved by the load generator at 20 000 msg/s and more."""
    pin(cpus)
    sock = socket.create_connection((host, port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    client_id = f"bench-pub-{uuid.uuid4().hex[:6]}".encode()
    connect = b"\x00\x04MQTT\x04\x02\x00\x00" + len(client_id).to_bytes(2, "big") + client_id
    sock.sendall(_packet(0x10, connect))
    if sock.recv(4)[:1] != b"\x20":
        raise ConnectionError("no CONNACK")
    heads = [len(t.encode()).to_bytes(2, "big") + t.encode() for t in TOPICS]
    conn.send(("ready",))
    while True:
        command = conn.recv()
        if command[0] == "quit":
            break
        _, run, rate, duration = command
        count = max(1, int(rate * duration))
        started = time.monotonic()
        seq = 0
        while seq < count:
            due = min(count, int((time.monotonic() - started) * rate) + 1)
            packets = []
            now = time.monotonic_ns()
            for n in range(seq, due):
                body = heads[n % len(heads)] + (
                    f'{{"run":{run},"seq":{n},"t":{now},"pad":"{PAD}"}}'.encode()
                )
                packets.append(_packet(0x30, body))
            if packets:
                sock.sendall(b"".join(packets))
            seq = due
            time.sleep(0.001)
        conn.send(("done", count, time.monotonic() - started))
    sock.sendall(b"\xe0\x00")  # DISCONNECT
    sock.close()


# receivers ----------------------------------------------------------------------------------
class Tally:
    """What the receivers saw during one run."""

    def __init__(self) -> None:
        self.run = -1
        self.count = 0
        self.frames = 0
        self.latencies = array("q")
        self.last_at = time.monotonic()

    def reset(self, run: int) -> None:
        self.run = run
        self.count = 0
        self.frames = 0
        self.latencies = array("q")
        self.last_at = time.monotonic()

    def saw(self, payload: dict[str, Any], now: int) -> None:
        if payload.get("run") == self.run:
            self.count += 1
            self.latencies.append(now - payload["t"])
            self.last_at = time.monotonic()


async def bridge_client(http: aiohttp.ClientSession, url: str, tally: Tally) -> Any:
    ws = await http.ws_connect(url, max_msg_size=0)
    await ws.send_str(json.dumps({"op": "subscribe", "topic": TOPIC_FILTER}))
    while True:
        frame = json.loads((await ws.receive()).data)
        if frame["op"] == "subscribed":
            break

    async def read() -> None:
        loads, monotonic_ns = json.loads, time.monotonic_ns
        async for msg in ws:
            frame = loads(msg.data)
            now = monotonic_ns()
            tally.frames += 1
            op = frame["op"]
            if op == "message":
                tally.saw(frame["payload"], now)
            elif op == "batch":
                for message in frame["messages"]:
                    tally.saw(message["payload"], now)

    return ws, read()


def _remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _packet(kind: int, body: bytes) -> bytes:
    return bytes([kind]) + _remaining_length(len(body)) + body


def split_packets(buffer: bytes) -> tuple[list[tuple[int, bytes]], bytes]:
    """Whole MQTT packets (first byte, body) from a stream, and the incomplete rest."""
    packets = []
    while len(buffer) >= 2:
        length, shift, i = 0, 0, 1
        while i < len(buffer):
            byte = buffer[i]
            length |= (byte & 0x7F) << shift
            shift += 7
            i += 1
            if not byte & 0x80:
                break
        else:
            break  # the length itself is incomplete
        if len(buffer) < i + length:
            break
        packets.append((buffer[0], buffer[i : i + length]))
        buffer = buffer[i + length :]
    return packets, buffer


async def mosquitto_client(http: aiohttp.ClientSession, url: str, tally: Tally) -> Any:
    ws = await http.ws_connect(url, protocols=("mqtt",), max_msg_size=0)
    client_id = f"bench-{uuid.uuid4().hex[:10]}".encode()
    # CONNECT: MQTT 3.1.1, clean session, no keepalive; then SUBSCRIBE at QoS 0.
    connect = b"\x00\x04MQTT\x04\x02\x00\x00" + len(client_id).to_bytes(2, "big") + client_id
    await ws.send_bytes(_packet(0x10, connect))
    topic = TOPIC_FILTER.encode()
    await ws.send_bytes(
        _packet(0x82, b"\x00\x01" + len(topic).to_bytes(2, "big") + topic + b"\x00")
    )
    buffer = b""
    seen: set[int] = set()
    while not {0x20, 0x90} <= seen:  # CONNACK and SUBACK
        packets, buffer = split_packets(buffer + (await ws.receive()).data)
        seen.update(kind for kind, _ in packets)

    async def read() -> None:
        nonlocal buffer
        loads, monotonic_ns = json.loads, time.monotonic_ns
        async for msg in ws:
            packets, buffer = split_packets(buffer + msg.data)
            tally.frames += 1
            payloads = []
            for kind, body in packets:
                if kind >> 4 == 3:  # PUBLISH
                    skip = 2 + int.from_bytes(body[:2], "big") + (2 if kind & 0x06 else 0)
                    payloads.append(loads(body[skip:]))
            now = monotonic_ns()
            for payload in payloads:
                tally.saw(payload, now)

    return ws, read()


def receiver_main(
    conn: Connection, side: str, url: str, browsers: int, cpus: set[int] | None
) -> None:
    pin(cpus)
    asyncio.run(_receive(conn, side, url, browsers))


async def _receive(conn: Connection, side: str, url: str, browsers: int) -> None:
    tally = Tally()
    client = bridge_client if side == "bridge" else mosquitto_client
    gate = asyncio.Semaphore(50)

    async def connect(http: aiohttp.ClientSession) -> Any:
        async with gate:
            return await client(http, url, tally)

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        opened = await asyncio.gather(*(connect(http) for _ in range(browsers)))
        readers = [asyncio.create_task(read) for _, read in opened]
        conn.send(("ready",))
        while True:
            command = await asyncio.to_thread(conn.recv)
            if command[0] == "quit":
                break
            if command[0] == "start":
                tally.reset(command[1])
                cpu_started, wall_started = time.process_time(), time.monotonic()
            elif command[0] == "finish":
                expected, quiet = command[1], command[2]
                # Until everything arrived, or nothing more came for `quiet` seconds.
                while tally.count < expected and time.monotonic() - tally.last_at < quiet:
                    await asyncio.sleep(0.05)
                cpu = time.process_time() - cpu_started
                wall = time.monotonic() - wall_started
                conn.send(
                    ("tally", tally.count, tally.frames, tally.latencies.tobytes(), cpu / wall)
                )
        for task in readers:
            task.cancel()
        for ws, _ in opened:
            with contextlib.suppress(Exception):
                await ws.close()
