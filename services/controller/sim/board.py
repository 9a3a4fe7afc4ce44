"""A simulated board: the serial protocol on a pseudo-terminal, a physical model behind it.

The controller opens `board.port` (a `/dev/pts/N` path) with the same driver it
uses for an Arduino, so it cannot tell the difference. Like an Arduino, the board
resets when the host opens the port (outputs off, hello), has a watchdog, streams
DS18B20-like readings (noise, 1/16 °C steps) and obeys `O` commands. Everything
runs on the given clock: physics, reading period and watchdog.

The board notices the host through the pty itself: while nobody has the other end
open, reading the master side fails with EIO; the first read that does not means
the host has just opened the port, which is when a real Arduino resets.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import math
import os
import random
import tty
from collections import deque
from collections.abc import Mapping

from services.common.clock import Clock
from services.controller.devices import protocol as p
from services.controller.sim.physics import Plant

log = logging.getLogger(__name__)

FIRMWARE = "sim-1.0"
DEFAULT_WATCHDOG_S = 10
SENSOR_FAULTS = {"85": 1360, "-127": -2032}
"""Injected raw values: the DS18B20's power-on value and a common 'no sensor' value."""
PHYSICAL_SENSOR_FAULTS = ("stuck", "in_air")
"""Faults of the probe's physics rather than its value: frozen, or reading the room."""
OUTPUT_FAULTS = ("stuck_on", "refused")
IN_AIR_TAU_S = 60.0
"""A probe pulled out of the liquid follows the room air with this lag."""


class SimulatedBoard:
    def __init__(
        self,
        name: str,
        plant: Plant,
        clock: Clock,
        *,
        interval: float = 1.0,
        noise_c: float = 0.02,
        seed: int | None = None,
        inputs: Mapping[int, bool] | None = None,
    ) -> None:
        self.name = name
        self.plant = plant
        self.clock = clock
        self.interval = interval
        self.noise_c = noise_c
        self._rng = random.Random(seed)
        self.inputs: dict[int, bool] = dict(inputs if inputs is not None else {8: False})
        self.outputs: dict[int, bool] = dict.fromkeys(plant.channels, False)
        self.sensor_faults: dict[str, str] = {}
        self.output_faults: dict[int, str] = {}  # channel → stuck_on | refused
        self._last_value: dict[str, float] = {}  # what each probe last read (stuck)
        self._in_air: dict[str, float] = {}  # a pulled-out probe's own temperature
        self.mode = "normal"  # normal | silent | garbage | deaf
        self.watchdog_s: float = DEFAULT_WATCHDOG_S
        self.watchdog_trips = 0
        self.resets = 0
        self.garbage_received = 0
        self.tx_bytes = 0  # since the host last opened the port
        self.rx_bytes = 0
        self._splitter = p.LineSplitter()
        self._outbox = bytearray()
        self.switches: deque[tuple[float, int, bool]] = deque(maxlen=100_000)
        self._master: int | None = None
        self._port = ""
        self._attached = False
        self._last_rx = clock.monotonic()
        self._t = clock.monotonic()
        self._power_on = False  # next reading of each sensor is the DS18B20's 85.0
        self._armed = False  # outputs may switch on only after the host's W
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # lifecycle -----------------------------------------------------------------------------
    @property
    def port(self) -> str:
        """The path the host opens, e.g. /dev/pts/7."""
        return self._port

    @property
    def attached(self) -> bool:
        return self._attached

    @property
    def pending_output(self) -> bool:
        return bool(self._outbox)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.plug()
        self._task = asyncio.create_task(self._run(), name=f"sim-board-{self.name}")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.unplug()

    def plug(self) -> None:
        """Create the pty (a new `port` path): the board is 'plugged in'."""
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no CR/LF translation, before anyone opens it
        self._port = os.ttyname(slave)
        os.close(slave)  # from now on, reads of the master fail until the host opens it
        os.set_blocking(master, False)
        self._master = master
        self._attached = False

    def unplug(self) -> None:
        """Close the pty: the host sees its port vanish, as with a USB cable pulled."""
        if self._master is not None:
            self._detach()
            os.close(self._master)
            self._master = None

    # fault injection ---------------------------------------------------------------------------
    def set_sensor_fault(self, sensor: str, fault: str) -> None:
        """`fault`: '85', '-127', 'missing', 'stuck' (frozen at its last value), 'in_air'
        (the probe reads the room, not the liquid), or 'none' to heal."""
        if sensor not in self.plant.sensors:
            raise ValueError(f"no sensor {sensor!r}; have {', '.join(self.plant.sensors)}")
        if fault in ("none", "ok", ""):
            self.sensor_faults.pop(sensor, None)
            self._in_air.pop(sensor, None)
        elif fault in SENSOR_FAULTS or fault == "missing" or fault in PHYSICAL_SENSOR_FAULTS:
            self.sensor_faults[sensor] = fault
            if fault == "in_air":
                self._in_air[sensor] = self.plant.temperature(sensor)
        else:
            raise ValueError(
                f"unknown fault {fault!r}; use 85, -127, missing, stuck, in_air or none"
            )

    def set_output_fault(self, channel: int, fault: str) -> None:
        """`fault`: 'stuck_on' (a welded relay or shorted SSR: on whatever it is told),
        'refused' (the board answers N to commands for it), or 'none' to heal."""
        if channel not in self.outputs:
            raise ValueError(f"no output channel {channel}; have {sorted(self.outputs)}")
        if fault in ("none", "ok", ""):
            self.output_faults.pop(channel, None)
        elif fault in OUTPUT_FAULTS:
            self._advance()  # the physics so far ran with the relay as it was
            self.output_faults[channel] = fault
        else:
            raise ValueError(f"unknown output fault {fault!r}; use stuck_on, refused or none")

    def energised(self, channel: int) -> bool:
        """Whether the load on `channel` really gets power (a stuck relay: always)."""
        return self.outputs.get(channel, False) or self.output_faults.get(channel) == "stuck_on"

    def set_mode(self, mode: str) -> None:
        """`normal`, `silent` (the line goes dead both ways), `garbage` (noise on the line),
        `deaf` (the board sends but hears nothing), or `reset` (a power blip: outputs off,
        hello, first readings 85.0)."""
        if mode == "reset":
            self.mode = "normal"
            self._reset(power_on=True)
            return
        if mode not in ("normal", "silent", "garbage", "deaf"):
            raise ValueError(
                f"unknown board mode {mode!r}; use normal, silent, garbage, deaf or reset"
            )
        self.mode = mode

    def set_input(self, channel: int, level: bool) -> None:
        if channel not in self.inputs:
            raise ValueError(f"no input channel {channel}")
        self.inputs[channel] = level
        self._send(p.encode_board(p.InputLevel(channel, level)))

    # the board's firmware ---------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            await self.clock.sleep(self.interval)
            try:
                self.tick()
            except Exception:
                log.exception("simulated board %s failed a tick", self.name)

    def tick(self) -> None:
        """One firmware loop pass: physics, watchdog, readings."""
        if not self._attached:
            self.poll()
        self._advance()
        # The watchdog runs whether or not a host holds the port: a host that crashed or
        # closed the port without a word leaves the outputs to it.
        now = self.clock.monotonic()
        if any(self.outputs.values()) and now - self._last_rx > self.watchdog_s:
            self._all_off()
            self.watchdog_trips += 1
            self._send(p.encode_board(p.BoardLog("watchdog: outputs off")))
        if not self._attached:
            return
        if self.mode == "silent":
            return
        out = bytearray()
        for index, sensor in enumerate(self.plant.sensors):
            out += p.encode_board(self._reading(index, sensor))
        for channel, level in self.inputs.items():
            out += p.encode_board(p.InputLevel(channel, level))
        if self.mode == "garbage":
            noise = bytes(self._rng.randrange(256) for _ in range(self._rng.randrange(5, 40)))
            # The burst ends at a line break: noise locked to the reading burst would
            # otherwise eat every acknowledgement that follows it, which real noise doesn't.
            out = bytearray(noise) + b"\n" + out + b"T 0 12*00\n" + noise[:7] + b"\n"
        self._power_on = False
        self._send(bytes(out))

    def _reading(self, index: int, sensor: str) -> p.Temperature:
        fault = self.sensor_faults.get(sensor)
        if fault == "missing":
            return p.Temperature(index, None, "nc")
        if fault in SENSOR_FAULTS:
            return p.Temperature(index, SENSOR_FAULTS[fault])
        if self._power_on:
            return p.Temperature(index, SENSOR_FAULTS["85"])
        if fault == "stuck" and sensor in self._last_value:
            return p.Temperature(index, p.to_raw(self._last_value[sensor]))
        truth = self._in_air[sensor] if fault == "in_air" else self.plant.temperature(sensor)
        value = truth + self._rng.gauss(0.0, self.noise_c)
        self._last_value[sensor] = value
        return p.Temperature(index, p.to_raw(value))

    def _advance(self) -> None:
        now = self.clock.monotonic()
        dt = now - self._t
        if dt > 0:
            on = {name: self.energised(ch) for ch, name in self.plant.channels.items()}
            self.plant.advance(dt, on)
            room = self.plant.room()
            for sensor, probe in self._in_air.items():
                self._in_air[sensor] = room + (probe - room) * math.exp(-dt / IN_AIR_TAU_S)
            self._t = now

    def _all_off(self) -> None:
        self._advance()
        for ch, on in self.outputs.items():
            if on:
                self.outputs[ch] = False
                self.switches.append((self.clock.monotonic(), ch, False))

    def _reset(self, power_on: bool = False) -> None:
        """What an Arduino does when DTR resets it (or power blips)."""
        self.resets += 1
        self._armed = False
        self._all_off()
        self.watchdog_s = DEFAULT_WATCHDOG_S
        self._last_rx = self.clock.monotonic()
        self._splitter.clear()
        self._power_on = power_on
        self._send_hello()
        cause = "power-on" if power_on else "external"  # a blip, or DTR from the host
        self._send(p.encode_board(p.BoardLog(f"reset cause: {cause}")))

    def _send_hello(self) -> None:
        lines = [p.Hello(p.PROTOCOL_VERSION, self.name, FIRMWARE)]
        lines += [p.SensorInfo(i, s) for i, s in enumerate(self.plant.sensors)]
        lines += [p.ActuatorInfo(ch) for ch in self.plant.channels]
        lines += [p.InputInfo(ch, level) for ch, level in self.inputs.items()]
        lines.append(p.EndOfIo(len(self.plant.sensors), len(self.plant.channels), len(self.inputs)))
        self._send(b"".join(p.encode_board(m) for m in lines))

    def _handle(self, body: str) -> None:
        try:
            cmd = p.parse_host_line(body)
        except p.LineError:
            fields = body.split(" ")
            seq = fields[1] if len(fields) > 1 and fields[1].isdigit() else "0"
            why = "arg" if fields[0] in ("?", "O", "P", "W", "X") else "cmd"
            self._send(p.frame(f"N {seq} {why}"))
            return
        # Only output commands and the keep-alive feed the watchdog (as the firmware):
        # hello requests from a host that is only reconnecting do not.
        if isinstance(cmd, p.Ping | p.AllOff):
            self._last_rx = self.clock.monotonic()
        match cmd:
            case p.SetOutput(seq, channel, on):
                if channel not in self.outputs or self.output_faults.get(channel) == "refused":
                    self._send(p.encode_board(p.Nak(seq, "ch")))
                    return
                if on and not self._armed:
                    # after a reset nothing switches on before the host's `W` (it has
                    # read our hello): a command in flight must not restart a compressor
                    self._send(p.encode_board(p.Nak(seq, "reset")))
                    return
                self._last_rx = self.clock.monotonic()
                if self.outputs[channel] != on:
                    self._advance()
                    self.outputs[channel] = on
                    self.switches.append((self.clock.monotonic(), channel, on))
                self._send(p.encode_board(p.Ack(seq)))
            case p.Ping(seq):
                self._send(p.encode_board(p.Ack(seq)))
            case p.HelloRequest(seq):
                self._send_hello()
                self._send(p.encode_board(p.Ack(seq)))
            case p.SetWatchdog(seq, seconds):
                self.watchdog_s = seconds
                self._armed = True
                self._send(p.encode_board(p.Ack(seq)))
            case p.AllOff(seq):
                self._all_off()
                self._send(p.encode_board(p.Ack(seq)))

    # the pty --------------------------------------------------------------------------------
    def poll(self) -> None:
        """Read what the host sent; notice the host opening or closing the port."""
        if self._master is None:
            return
        try:
            data = os.read(self._master, 4096)
        except BlockingIOError:
            data = b""
        except OSError as exc:
            if exc.errno == errno.EIO:  # nobody has the port open
                self._detach()
                return
            raise
        if not self._attached:
            self._attach()
        if data:
            self._receive(data)

    def _attach(self) -> None:
        self._attached = True
        self.tx_bytes = self.rx_bytes = 0
        self._outbox.clear()
        assert self._loop is not None and self._master is not None
        self._loop.add_reader(self._master, self.poll)
        self._reset()

    def _detach(self) -> None:
        if self._attached and self._loop is not None and self._master is not None:
            self._loop.remove_reader(self._master)
        self._attached = False

    def _receive(self, data: bytes) -> None:
        self.rx_bytes += len(data)
        if self.mode in ("silent", "deaf"):
            return  # deaf: a broken RX line or a dead USB-serial receive path
        for line in self._splitter.feed(data):
            try:
                body = p.unframe(line)
            except p.LineError:
                self.garbage_received += 1
                continue
            self._handle(body)

    def _send(self, data: bytes) -> None:
        """Queue bytes; what one event-loop turn queues goes out in one write."""
        if not self._attached or self.mode == "silent" or self._master is None:
            return
        if not self._outbox:
            asyncio.get_running_loop().call_soon(self._flush)
        self._outbox += data

    def _flush(self) -> None:
        data, self._outbox = bytes(self._outbox), bytearray()
        if not self._attached or self._master is None or not data:
            return
        try:
            self.tx_bytes += os.write(self._master, data)
        except BlockingIOError:
            pass  # nobody reading: bytes fall on the floor, as on a UART
        except OSError as exc:
            if exc.errno != errno.EIO:
                raise
            self._detach()
