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
from dataclasses import dataclass

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
FAULT_READINGS = 3
"""As the firmware: a probe failing this many readings in a row trips its high limit."""


@dataclass
class ChannelGuard:
    """What the firmware keeps per output (devices/arduino/maelstrom/guards.h): a high
    limit bound to a probe, latched when it trips, and a fallback thermostat."""

    limit: p.SetLimit | None = None
    faults: int = 0
    tripped: p.LimitTripped | None = None
    fallback: p.SetFallback | None = None
    renewed_at: float = 0.0  # the host's last `O` for the channel
    off_since: float = 0.0  # when the output last went off (the reset counts)

    def limit_reading(self, channel: int, reading: p.Temperature, failed: bool) -> bool:
        """A reading of one of the board's probes; True when it trips the limit now."""
        limit = self.limit
        if limit is None or limit.sensor != reading.index or self.tripped is not None:
            return False
        if failed:
            self.faults = min(self.faults + 1, FAULT_READINGS)
            if self.faults < FAULT_READINGS:
                return False
            # as the firmware says it: a power-on 85.0 is `conv`, a −127 a probe gone (`nc`)
            why = reading.error or ("nc" if reading.raw == SENSOR_FAULTS["-127"] else "conv")
            self.tripped = p.LimitTripped(channel, reading.index, None, why)
            return True
        self.faults = 0
        assert reading.raw is not None
        if reading.raw < limit.raw:
            return False
        self.tripped = p.LimitTripped(channel, reading.index, reading.raw)
        return True

    def fallback_wants(self, on: bool, raw: int | None, off_for: float) -> bool:
        f = self.fallback
        if f is None or raw is None or self.tripped is not None:
            return False
        if f.cools:
            if on:
                return raw > f.setpoint
            if raw < f.setpoint + f.differential:
                return False
        else:
            if on:
                return raw < f.setpoint
            if raw > f.setpoint - f.differential:
                return False
        return off_for >= f.min_off_s


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
        self.guards: dict[int, ChannelGuard] = {ch: ChannelGuard() for ch in self.outputs}
        self.in_fallback = False  # the host is silent; fallback thermostats hold outputs
        self._fallback_since = 0.0
        self._watchdog_fired = False  # once per silence, as the firmware
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
        self._watchdog(now)
        # The probes are read whether or not anyone listens: the high limits and the
        # fallback judge every reading.
        readings = [self._reading(i, sensor) for i, sensor in enumerate(self.plant.sensors)]
        for reading in readings:
            self._guard(reading, now)
        if not self._attached or self.mode == "silent":
            self._power_on = False
            return
        out = bytearray()
        for reading in readings:
            out += p.encode_board(reading)
        out += self._safety_status(now)
        for channel, level in self.inputs.items():
            out += p.encode_board(p.InputLevel(channel, level))
        if self.mode == "garbage":
            noise = bytes(self._rng.randrange(256) for _ in range(self._rng.randrange(5, 40)))
            # The burst ends at a line break: noise locked to the reading burst would
            # otherwise eat every acknowledgement that follows it, which real noise doesn't.
            out = bytearray(noise) + b"\n" + out + b"T 0 12*00\n" + noise[:7] + b"\n"
        self._power_on = False
        self._send(bytes(out))

    def _watchdog(self, now: float) -> None:
        if now - self._last_rx <= self.watchdog_s:
            for channel, guard in self.guards.items():
                if self.outputs[channel] and now - guard.renewed_at > self.watchdog_s:
                    # its loop stopped deciding: the host stopped renewing it
                    self._switch(channel, False)
                    self._send(p.encode_board(p.BoardLog(f"watchdog: output {channel} off")))
            return
        if self._watchdog_fired:
            return
        self._watchdog_fired = True
        if any(self.outputs.values()):
            self._all_off()
            self.watchdog_trips += 1
            self._send(p.encode_board(p.BoardLog("watchdog: outputs off")))
        if self._armed and any(g.fallback is not None for g in self.guards.values()):
            self.in_fallback = True
            self._fallback_since = now
            self._send(p.encode_board(p.BoardLog("fallback: thermostat on")))
            self._send(self._safety_status(now))

    def _feed_watchdog(self) -> None:
        now = self.clock.monotonic()
        self._last_rx = now
        self._watchdog_fired = False
        if not self.in_fallback:
            return
        self.in_fallback = False
        for guard in self.guards.values():
            guard.renewed_at = now  # the host gets one watchdog time to renew them
        took = int(now - self._fallback_since)
        self._send(p.encode_board(p.BoardLog(f"fallback: host back after {took} s")))

    def _guard(self, reading: p.Temperature, now: float) -> None:
        sensor = self.plant.sensors[reading.index]
        # The firmware tells a real 85.0 from a probe's power-on value (its scratchpad
        # marker); here the injected faults and the power-on readings are the failures.
        failed = (
            reading.raw is None or self._power_on or self.sensor_faults.get(sensor) in SENSOR_FAULTS
        )
        for channel, guard in self.guards.items():
            if guard.limit_reading(channel, reading, failed):
                self._switch(channel, False)
                assert guard.tripped is not None
                self._send(p.encode_board(guard.tripped))
            fallback = guard.fallback
            if self.in_fallback and fallback is not None and fallback.sensor == reading.index:
                on = self.outputs[channel]
                want = guard.fallback_wants(
                    on, None if failed else reading.raw, now - guard.off_since
                )
                if want != on:
                    self._switch(channel, want)

    def _safety_status(self, now: float) -> bytes:
        """`C` for every tripped limit, `F` for every output the fallback holds."""
        out = bytearray()
        for channel, guard in self.guards.items():
            if guard.tripped is not None:
                out += p.encode_board(guard.tripped)
            if self.in_fallback and guard.fallback is not None:
                seconds = int(now - self._fallback_since)
                out += p.encode_board(p.FallbackHolding(channel, self.outputs[channel], seconds))
        return bytes(out)

    def _switch(self, channel: int, on: bool) -> None:
        if on and self.guards[channel].tripped is not None:
            on = False  # a tripped high limit holds, whoever asks
        if self.outputs[channel] == on:
            return
        self._advance()
        self.outputs[channel] = on
        now = self.clock.monotonic()
        if not on:
            self.guards[channel].off_since = now
        self.switches.append((now, channel, on))

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
        for ch in self.outputs:
            self._switch(ch, False)

    def _reset(self, power_on: bool = False) -> None:
        """What an Arduino does when DTR resets it (or power blips)."""
        self.resets += 1
        self._armed = False
        self._all_off()
        now = self.clock.monotonic()
        # nothing the host configured outlives a reset
        self.guards = {ch: ChannelGuard(off_since=now) for ch in self.outputs}
        self.in_fallback = self._watchdog_fired = False
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
        self._send(self._safety_status(self.clock.monotonic()))

    def _handle(self, body: str) -> None:
        try:
            cmd = p.parse_host_line(body)
        except p.LineError:
            fields = body.split(" ")
            seq = fields[1] if len(fields) > 1 and fields[1].isdigit() else "0"
            why = "arg" if fields[0] in ("?", "O", "P", "W", "X", "C", "R", "F") else "cmd"
            self._send(p.frame(f"N {seq} {why}"))
            return
        # Only output commands and the keep-alive feed the watchdog (as the firmware):
        # hello requests from a host that is only reconnecting do not.
        if isinstance(cmd, p.Ping | p.AllOff):
            self._feed_watchdog()
        channel = getattr(cmd, "channel", None)
        if channel is not None and channel not in self.outputs:
            self._send(p.encode_board(p.Nak(cmd.seq, "ch")))
            return
        match cmd:
            case p.SetOutput(seq, channel, on):
                if self.output_faults.get(channel) == "refused":
                    self._send(p.encode_board(p.Nak(seq, "ch")))
                    return
                if on and not self._armed:
                    # after a reset nothing switches on before the host's `W` (it has
                    # read our hello): a command in flight must not restart a compressor
                    self._send(p.encode_board(p.Nak(seq, "reset")))
                    return
                if on and self.guards[channel].tripped is not None:
                    self._send(p.encode_board(p.Nak(seq, "limit")))
                    return
                self._feed_watchdog()
                self._switch(channel, on)
                self.guards[channel].renewed_at = self.clock.monotonic()
                self._send(p.encode_board(p.Ack(seq)))
            case p.SetLimit(seq, channel, sensor):
                guard = self.guards[channel]
                if sensor is None:
                    guard.limit, guard.tripped, guard.faults = None, None, 0
                else:
                    if guard.limit is None or guard.limit.sensor != sensor:
                        guard.faults = 0
                    guard.limit = cmd
                self._send(p.encode_board(p.Ack(seq)))
            case p.ClearLimit(seq, channel):
                self.guards[channel].tripped, self.guards[channel].faults = None, 0
                self._send(p.encode_board(p.Ack(seq)))
            case p.SetFallback(seq, channel, sensor):
                self.guards[channel].fallback = None if sensor is None else cmd
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
