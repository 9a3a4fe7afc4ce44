"""The host side of the serial protocol: one `SerialBoard` per board.

It opens the port (any pyserial URL), waits out the reset that opening causes,
collects the board's hello, then keeps the board's outputs where the controller
wants them: every change at once, every output again each `refresh_s` (which also
feeds the board's watchdog and corrects a lost command). Reading is event-driven
(the event loop watches the port's file descriptor), so a reading reaches the
control loop the moment its line is complete.

Anything wrong on the line — garbage, partial lines, an unplugged cable, a port
path that disappears — is counted and logged, never raised: the board is declared
lost, the port closed, and reopened with back-off until the board is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import re
from dataclasses import dataclass, field
from typing import Any, Protocol

import serial

from services.common.clock import Clock
from services.controller.devices import protocol as p
from services.controller.events import events

log = logging.getLogger(__name__)

GARBAGE_LOG_EVERY_S = 30.0
_FALLBACK_ENDED = re.compile(r"fallback: host back after (\d+) s")
_NOT_RENEWED = re.compile(r"watchdog: output (\d+) off")
_DUTY_NAMES = {"limit": "high limits", "fallback": "a fallback thermostat"}


@dataclass(frozen=True)
class BoardTiming:
    hello_timeout_s: float = 2.5  # an Arduino's bootloader takes ≈1.6 s after the reset
    refresh_s: float = 2.0  # every output re-sent; keeps the watchdog fed
    lost_after_s: float = 10.0  # no line at all for this long: the board is gone
    watchdog_s: int = 10  # the board's own: outputs off when we are quiet this long
    backoff_min_s: float = 1.0
    backoff_max_s: float = 30.0


@dataclass
class BoardInfo:
    """What the board said in its hello."""

    board: str
    firmware: str
    proto: int
    sensors: dict[int, str] = field(default_factory=dict)  # index → address
    actuators: set[int] = field(default_factory=set)
    inputs: dict[int, bool] = field(default_factory=dict)


class BoardListener(Protocol):
    def board_online(self, info: BoardInfo) -> None: ...

    def board_offline(self, reason: str) -> None: ...

    def board_temperature(self, index: int, celsius: float | None, error: str | None) -> None: ...

    def board_input(self, channel: int, level: bool) -> None: ...

    def board_reset(self, info: BoardInfo) -> None:
        """An unsolicited hello (or a reset the board's refusals reveal): every output of
        the board went off just now."""
        ...

    def board_outputs_off(self, why: str) -> None:
        """Every output of the board is off as of now, and nothing else is news: a new
        session's first hello (it may have kept them on until now), its watchdog."""
        ...

    def board_output_trouble(self, channel: int, why: str | None) -> None:
        """The board is not doing (or not confirming) what it is told for `channel`."""
        ...

    def board_output(self, channel: int, on: bool) -> None:
        """The board acknowledged switching output `channel` (its real state now)."""
        ...

    def board_limit_tripped(self, trip: p.LimitTripped) -> None:
        """The board's own high limit holds output `trip.channel` off (latched)."""
        ...

    def board_fallback(self, channel: int, on: bool | None, seconds: int) -> None:
        """The board's fallback thermostat holds `channel` (`on` None: it has handed
        control back, after `seconds` of the host's silence)."""
        ...

    def output_fresh(self, channel: int) -> bool:
        """Whether the loop driving `channel` has decided recently enough to renew it."""
        ...


@dataclass
class LinkStats:
    lines: int = 0
    garbage: int = 0
    naks: int = 0
    acks_missed: int = 0
    connects: int = 0
    rx_bytes: int = 0  # since the port was last opened
    tx_bytes: int = 0


class SerialBoard:
    def __init__(
        self,
        name: str,
        port: str,
        clock: Clock,
        listener: BoardListener,
        *,
        baud: int = 57600,
        timing: BoardTiming | None = None,
    ) -> None:
        self.name = name
        self.port = port
        self.baud = baud
        self.clock = clock
        self.listener = listener
        self.timing = timing or BoardTiming()
        self.stats = LinkStats()
        self.info: BoardInfo | None = None  # set while the board is online
        self._desired: dict[int, bool] = {}
        self._ser: Any = None
        self._fd: int | None = None
        self._splitter = p.LineSplitter()
        self._pending_hello: BoardInfo | None = None
        self._pending_acks: dict[int, float] = {}
        self._seq_channel: dict[int, int] = {}  # seq of an output command → its channel
        self._unacked_since: dict[int, float] = {}  # channel → oldest unanswered command
        self._trouble: dict[int, str] = {}  # channel → why control of it is lost
        self._pending_outputs: dict[int, tuple[int, bool]] = {}  # seq → what SetOutput asked
        self._outbox = bytearray()
        # what the board enforces by itself (firmware ≥ 1.1): channel → the C / F line
        self._limits: dict[int, p.SetLimit] = {}
        self._fallbacks: dict[int, p.SetFallback] = {}
        self._seq_duty: dict[int, str] = {}  # seq of a C/F/R command → which duty
        self._unsupported: set[str] = set()  # duties this firmware answered `N … cmd` to
        self._not_renewed: set[int] = set()  # channels whose loop stopped deciding
        self._clearing: dict[int, int] = {}  # channel → seq of its unanswered `R`
        # the session's set-up (`W`, which arms the outputs, and the duties): until the
        # board acknowledges its `W` it is sent again at every refresh (a deaf board)
        self._setup_seq: int | None = None
        self._setup_at = 0.0
        self._set_up = False
        self._seq = 0
        self._last_rx = 0.0
        self._lost: asyncio.Future[str] | None = None
        self._task: asyncio.Task[None] | None = None
        self._poller: asyncio.Task[None] | None = None
        self._garbage_logged_at = -GARBAGE_LOG_EVERY_S
        self._garbage_unlogged = 0
        self._open_error: str | None = None
        self._offline_reported = False

    # public ------------------------------------------------------------------------------------
    @property
    def online(self) -> bool:
        return self.info is not None

    @property
    def is_open(self) -> bool:
        return self._ser is not None

    @property
    def pending_output(self) -> bool:
        return bool(self._outbox)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"serial-board-{self.name}")

    async def stop(self) -> None:
        """Switch every output off (politely, if the board listens), then let go of the port."""
        if self.online:
            self._send(p.AllOff(self._next_seq()))
            self._flush()
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._close()

    async def abandon(self) -> None:
        """Let go of the port without a word, as a killed process does (kill -9): the
        board's outputs stay as they are until its watchdog, or the reset that the next
        opening of the port causes."""
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._close()

    def set_output(self, channel: int, on: bool) -> None:
        """Where the controller wants output `channel`; sent now if the board is online."""
        if self._desired.get(channel) == on:
            return
        self._desired[channel] = on
        if self.online:
            self._send(p.SetOutput(self._next_seq(), channel, on))

    def forget_output(self, channel: int) -> None:
        self._desired.pop(channel, None)

    def set_limit(self, channel: int, sensor: int | None, raw: int = 0) -> None:
        """The board holds `channel` off (latched) when its probe `sensor` reads `raw`
        (1/16 °C) or more, or keeps failing; `sensor` None: no limit."""
        want = p.SetLimit(0, channel, sensor, raw if sensor is not None else 0)
        if self._limits.get(channel, p.SetLimit(0, channel)) == want:
            return
        self._limits[channel] = want
        if self.online:
            self._send_duty(want)

    def set_fallback(self, channel: int, fallback: p.SetFallback | None) -> None:
        """The board's thermostat for `channel` while the host is silent (None: none)."""
        want = fallback or p.SetFallback(0, channel)
        if self._fallbacks.get(channel, p.SetFallback(0, channel)) == want:
            return
        self._fallbacks[channel] = want
        if self.online:
            self._send_duty(want)

    def clear_limit(self, channel: int) -> None:
        """Clear a tripped limit's latch (the brewer acknowledged it)."""
        if self.online and channel in self._limits:
            self._send_duty(p.ClearLimit(0, channel))

    # connection life cycle ------------------------------------------------------------------------
    async def _run(self) -> None:
        backoff = self.timing.backoff_min_s
        while True:
            try:
                self._open()
            except (serial.SerialException, OSError, ValueError) as exc:
                self._report_offline(f"cannot open {self.port}: {exc}")
                await self.clock.sleep(backoff)
                backoff = min(backoff * 2, self.timing.backoff_max_s)
                continue
            try:
                reason = await self._session()
            finally:
                was_online = self.online
                self._close()
            self._report_offline(reason)
            if was_online:
                backoff = self.timing.backoff_min_s
            await self.clock.sleep(backoff)
            backoff = min(backoff * 2, self.timing.backoff_max_s)

    def _open(self) -> None:
        ser = serial.serial_for_url(
            self.port, baudrate=self.baud, timeout=0, write_timeout=0, exclusive=True
        )
        self._ser = ser
        self._splitter.clear()
        self._outbox.clear()
        self._pending_hello = None
        self._pending_acks.clear()
        self._pending_outputs.clear()
        self._seq_channel.clear()
        self._seq_duty.clear()
        self._clearing.clear()
        self._unacked_since.clear()
        self._setup_seq, self._set_up = None, False
        for channel in list(self._trouble):
            self._set_trouble(channel, None)  # a new session: judged afresh
        self.stats.rx_bytes = self.stats.tx_bytes = 0
        self.stats.connects += 1
        self._lost = asyncio.get_running_loop().create_future()
        self._last_rx = self.clock.monotonic()
        try:
            self._fd = ser.fileno()
        except Exception:  # rfc2217://, loop:// … have no descriptor to watch
            self._fd = None
        if self._fd is not None:
            asyncio.get_running_loop().add_reader(self._fd, self._on_readable)
        else:
            self._poller = asyncio.create_task(self._poll())
        if self._open_error:
            log.info("board %s: %s opened", self.name, self.port)
            self._open_error = None

    def _close(self) -> None:
        was_online = self.online
        self.info = None
        if self._fd is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._fd)
            self._fd = None
        if self._poller is not None:
            self._poller.cancel()
            self._poller = None
        if self._ser is not None:
            with contextlib.suppress(Exception):
                self._ser.close()
            self._ser = None
        if was_online:
            self._offline_reported = False

    async def _session(self) -> str:
        """Talk to an open port until the board is lost; returns why."""
        assert self._lost is not None
        opened = self.clock.monotonic()
        next_hello = opened + self.timing.hello_timeout_s
        while not self._lost.done():
            now = self.clock.monotonic()
            if now - self._last_rx > self.timing.lost_after_s:
                return f"no line from {self.port} for {self.timing.lost_after_s:g} s"
            if self.online:
                self._refresh()
                wait = self.timing.refresh_s
            else:
                if now >= next_hello:
                    self._send(p.HelloRequest(self._next_seq()))
                    next_hello = now + self.timing.hello_timeout_s
                wait = max(0.0, next_hello - now)
            wait = min(wait, max(0.0, self._last_rx + self.timing.lost_after_s - now) + 1e-3)
            sleeper = asyncio.ensure_future(self.clock.sleep(wait))
            await asyncio.wait([sleeper, self._lost], return_when=asyncio.FIRST_COMPLETED)
            if not sleeper.done():
                sleeper.cancel()
        return self._lost.result()

    def _fail(self, reason: str) -> None:
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(reason)
        if self._fd is not None:  # stop a dead descriptor from spinning the event loop
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._fd)
            self._fd = None

    def _report_offline(self, reason: str) -> None:
        if self._offline_reported:
            log.debug("board %s still offline: %s", self.name, reason)
            return
        self._offline_reported = True
        self._open_error = reason
        log.warning("board %s offline: %s", self.name, reason)
        self.listener.board_offline(reason)

    # receiving -------------------------------------------------------------------------------
    def _on_readable(self) -> None:
        # Straight from the descriptor: pyserial's read() goes through select(), which
        # fails once a process has more than 1024 descriptors (hundreds of boards).
        try:
            data = os.read(self._fd, 4096) if self._fd is not None else self._ser.read(4096)
        except BlockingIOError:
            return
        except Exception as exc:  # SerialException, OSError (EIO: unplugged), ...
            self._fail(f"{self.port}: {exc}")
            return
        if data:
            self._receive(data)
        elif self._fd is not None:  # readable but empty: the other end is gone
            self._fail(f"{self.port}: device disconnected")

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(0.02)  # real time: this is I/O polling, not control timing
            self._on_readable()

    def _receive(self, data: bytes) -> None:
        self.stats.rx_bytes += len(data)
        self._last_rx = self.clock.monotonic()
        overflows = self._splitter.overflows
        for line in self._splitter.feed(data):
            self._line(line)
        if self._splitter.overflows != overflows:
            self._garbage("a run of bytes with no newline")

    def _line(self, line: bytes) -> None:
        try:
            msg = p.parse_board_line(p.unframe(line))
        except p.LineError as exc:
            self._garbage(str(exc))
            return
        self.stats.lines += 1
        match msg:
            case p.Temperature(index, _, error):
                if self.online:
                    self.listener.board_temperature(index, msg.celsius, error)
            case p.InputLevel(channel, level):
                if self.online:
                    self.listener.board_input(channel, level)
            case p.Ack(seq):
                self._pending_acks.pop(seq, None)
                if seq == self._setup_seq:
                    self._set_up = True
                channel = self._seq_channel.pop(seq, None)
                if channel is not None:
                    self._unacked_since.pop(channel, None)
                    self._set_trouble(channel, None)
                output = self._pending_outputs.pop(seq, None)
                if output is not None and self.online:
                    self.listener.board_output(*output)
                if self._seq_duty.pop(seq, None) is not None:
                    self._clearing = {c: s for c, s in self._clearing.items() if s != seq}
            case p.Hello(proto, board, firmware):
                if proto != p.PROTOCOL_VERSION:
                    log.warning(
                        "board %s speaks protocol %s; this controller speaks %s",
                        self.name,
                        proto,
                        p.PROTOCOL_VERSION,
                    )
                self._pending_hello = BoardInfo(board=board, firmware=firmware, proto=proto)
            case p.SensorInfo(index, address) if self._pending_hello:
                self._pending_hello.sensors[index] = address
            case p.ActuatorInfo(channel) if self._pending_hello:
                self._pending_hello.actuators.add(channel)
            case p.InputInfo(channel, level) if self._pending_hello:
                self._pending_hello.inputs[channel] = level
            case p.EndOfIo(sensors, actuators, inputs) if self._pending_hello:
                info, self._pending_hello = self._pending_hello, None
                if (len(info.sensors), len(info.actuators), len(info.inputs)) != (
                    sensors,
                    actuators,
                    inputs,
                ):
                    self._garbage("incomplete hello")
                    self._send(p.HelloRequest(self._next_seq()))
                    return
                self._hello_complete(info)
            case p.Nak(seq, reason):
                self.stats.naks += 1
                self._pending_acks.pop(seq, None)
                self._pending_outputs.pop(seq, None)
                channel = self._seq_channel.pop(seq, None)
                duty = self._seq_duty.pop(seq, None)
                if duty is not None and reason == "cmd":
                    self._unsupported.add(duty)
                    log.warning(
                        "board %s: its firmware does not enforce %s (firmware 1.0?); only the "
                        "controller's own protections hold",
                        self.name,
                        _DUTY_NAMES.get(duty, duty),
                    )
                elif reason == "limit":
                    # its own high limit holds the output: the `C` line says why
                    if channel is not None:
                        self._unacked_since.pop(channel, None)
                    log.info("board %s: output %s held off by its high limit", self.name, channel)
                elif reason == "reset":
                    self._refused_unarmed(seq, channel)
                elif channel is not None:
                    self._set_trouble(channel, f"the board refused output {channel} ({reason})")
                else:
                    log.warning("board %s refused command %d: %s", self.name, seq, reason)
            case p.LimitTripped(channel) if self.online:
                # a trip reported before the board read our `R` is the one being cleared
                if channel not in self._clearing:
                    self.listener.board_limit_tripped(msg)
            case p.FallbackHolding(channel, on, seconds) if self.online:
                self.listener.board_fallback(channel, on, seconds)
            case p.BoardLog(text):
                if text.startswith("reset cause:"):
                    events.info("board %s: %s", self.name, text)  # a brown-out is news
                    return
                if text == "watchdog: outputs off" and self.online:
                    # it stopped hearing us: whatever it ran (a compressor) stopped now
                    self.listener.board_outputs_off("its watchdog switched them off")
                if ended := _FALLBACK_ENDED.match(text):
                    events.info("board %s: %s", self.name, text)
                    self.listener.board_fallback(-1, None, int(ended[1]))
                    if self.online:
                        # Its thermostat may have run the compressor behind the loops'
                        # backs: they take over with every output off as of now (their
                        # minimum off from here), and the board is told so at once.
                        self._taken_off("its fallback thermostat handed control back")
                    return
                if (dropped := _NOT_RENEWED.match(text)) and self.online:
                    self.listener.board_output(int(dropped[1]), False)
                level = logging.WARNING if "watchdog" in text else logging.INFO
                log.log(level, "board %s: %s", self.name, text)
            case _:
                pass  # IO lines outside a hello: ignore

    def _hello_complete(self, info: BoardInfo, *, unseen: bool = False) -> None:
        """A complete hello (`unseen`: a reset whose hello never reached us)."""
        first = self.info is None
        self.info = info
        self._offline_reported = False
        if first:
            events.info(
                "board %s online on %s: %s firmware %s, %d sensors, actuators %s",
                self.name,
                self.port,
                info.board,
                info.firmware,
                len(info.sensors),
                sorted(info.actuators),
            )
        elif unseen:
            log.warning(
                "board %s refuses to switch on until it hears its watchdog time: it reset "
                "(its hello was lost); its outputs are off",
                self.name,
            )
        else:
            log.warning("board %s said hello again (it reset); its outputs are off", self.name)
        # Every output is off as of this hello: opening the port reset the board, or it
        # reset by itself; one that does not reset on open switches off at our first
        # commands, or at its watchdog if it does not hear them (which it reports).
        # Restoring them at once would restart a compressor seconds after it stopped, and
        # a new controller that counted the minimum off from its own start would restart
        # one that a deaf board kept running through the restart: the loops decide again,
        # with their minimum off times counted from now (docs/safety.md).
        for channel in self._desired:
            self._desired[channel] = False
        if first:
            self.listener.board_outputs_off("a new session")
        else:
            self.listener.board_reset(info)
        self._unsupported.clear()  # perhaps a new firmware
        self._setup()
        self._refresh()
        self.listener.board_online(info)

    def _taken_off(self, why: str) -> None:
        for channel in self._desired:
            self._desired[channel] = False
        self.listener.board_outputs_off(why)
        for channel, on in self._desired.items():
            self._send(p.SetOutput(self._next_seq(), channel, on))

    def _setup(self) -> None:
        """What a board must hear after each reset: its watchdog time (which also arms its
        outputs) and what it enforces by itself — nothing of it outlives a reset."""
        self._setup_seq = self._next_seq()
        self._setup_at = self.clock.monotonic()
        self._set_up = False
        self._send(p.SetWatchdog(self._setup_seq, int(self.timing.watchdog_s)))
        for duty in (*self._limits.values(), *self._fallbacks.values()):
            if duty.sensor is not None:
                self._send_duty(duty)

    def _refused_unarmed(self, seq: int, channel: int | None) -> None:
        """`N … reset`: the board refuses to switch on because it has not heard a `W` since
        its last reset."""
        setup = self._setup_seq
        if self.info is None or setup is None or not 0 < (seq - setup) % 65536 < 32768:
            # sent before our set-up (in flight when it reset): the hello handling decided
            log.info("board %s: output %s refused while it reset", self.name, channel)
        elif self._set_up:
            # It acknowledged our `W`, so it has reset since, and we never saw the hello.
            self._hello_complete(self.info, unseen=True)
        else:
            # It did not hear the set-up (deaf then, hearing now): send it again at once.
            log.info("board %s: output %s refused: set-up sent again", self.name, channel)
            self._setup()

    def _garbage(self, why: str) -> None:
        self.stats.garbage += 1
        self._garbage_unlogged += 1
        now = self.clock.monotonic()
        if now - self._garbage_logged_at >= GARBAGE_LOG_EVERY_S:
            log.warning(
                "board %s: dropped %d garbage line(s) (last: %s); %d in total",
                self.name,
                self._garbage_unlogged,
                why,
                self.stats.garbage,
            )
            self._garbage_logged_at = now
            self._garbage_unlogged = 0

    # sending ---------------------------------------------------------------------------------
    def _next_seq(self) -> int:
        self._seq = (self._seq + 1) % 65536
        return self._seq

    def _refresh(self) -> None:
        now = self.clock.monotonic()
        stale = [s for s, t in self._pending_acks.items() if now - t > 2 * self.timing.refresh_s]
        for seq in stale:
            del self._pending_acks[seq]
            self._pending_outputs.pop(seq, None)
        self.stats.acks_missed += len(stale)
        for seq in stale:
            self._seq_channel.pop(seq, None)
        # A duty command that will never be answered (a deaf board, sent again at every
        # refresh) must not fill the table: a full one would leave a clear (`R`) marked
        # unanswered for ever, hiding the board's next trip on that channel.
        for seq in [s for s in self._seq_duty if s not in self._pending_acks]:
            del self._seq_duty[seq]
        self._clearing = {c: s for c, s in self._clearing.items() if s in self._seq_duty}
        # Only a board that is talking can be said to ignore us; one that has gone quiet
        # altogether is lost (`lost_after_s`), and its readings go stale.
        talking = now - self._last_rx < self.timing.refresh_s
        if not self._set_up and self.online and now - self._setup_at >= self.timing.refresh_s:
            # Its `W` unanswered (a board deaf when we said hello): until it hears one, it
            # switches nothing on and enforces none of its duties. First, so that a board
            # hearing again reads it before this refresh's outputs.
            self._setup()
        for channel, since in self._unacked_since.items():
            # ≥ 1.5 refreshes: the second refresh after an unanswered command (one ack lost
            # to line noise is answered by the next refresh's)
            if (
                talking
                and now - since >= 1.5 * self.timing.refresh_s
                and channel not in self._trouble
            ):
                self._set_trouble(
                    channel, f"no acknowledgement from the board for {now - since:.0f} s"
                )
        renewed = False
        for channel, on in self._desired.items():
            if on and not self.listener.output_fresh(channel):
                # The per-loop heartbeat: its loop has stopped deciding. Not renewed, the
                # board switches it off within its watchdog time; the other loops run on.
                if channel not in self._not_renewed:
                    self._not_renewed.add(channel)
                    log.warning(
                        "board %s: output %d not renewed: the loop driving it has stopped "
                        "deciding; the board switches it off within %d s",
                        self.name,
                        channel,
                        self.timing.watchdog_s,
                    )
                continue
            self._not_renewed.discard(channel)
            self._send(p.SetOutput(self._next_seq(), channel, on))
            renewed = True
        if not renewed:
            self._send(p.Ping(self._next_seq()))  # the keep-alive: the host itself is alive

    def _send_duty(self, duty: p.SetLimit | p.SetFallback | p.ClearLimit) -> None:
        kind = "fallback" if isinstance(duty, p.SetFallback) else "limit"
        if kind in self._unsupported:
            return
        cmd = dataclasses.replace(duty, seq=self._next_seq())
        if len(self._seq_duty) < 256:
            self._seq_duty[cmd.seq] = kind
        if isinstance(cmd, p.ClearLimit):
            self._clearing[cmd.channel] = cmd.seq
        self._send(cmd)

    def _set_trouble(self, channel: int, why: str | None) -> None:
        if self._trouble.get(channel) == why:
            return
        if why is None:
            del self._trouble[channel]
            log.info("board %s: output %d is obeying again", self.name, channel)
        else:
            if channel not in self._trouble:
                log.warning("board %s: output %d: %s", self.name, channel, why)
            self._trouble[channel] = why
        self.listener.board_output_trouble(channel, why)

    def _send(self, cmd: p.HostCommand) -> None:
        """Queue a command; everything queued in one event-loop turn goes in one write."""
        if self._ser is None:
            return
        if not self._outbox:
            asyncio.get_running_loop().call_soon(self._flush)
        self._outbox += p.encode_host(cmd)
        now = self.clock.monotonic()
        if len(self._pending_acks) < 256:
            self._pending_acks[cmd.seq] = now
        if isinstance(cmd, p.SetOutput) and len(self._seq_channel) < 1024:
            self._seq_channel[cmd.seq] = cmd.channel
            self._unacked_since.setdefault(cmd.channel, now)
            self._pending_outputs[cmd.seq] = (cmd.channel, cmd.on)

    def _flush(self) -> None:
        if self._ser is None or not self._outbox:
            return
        try:
            if self._fd is not None:
                written = os.write(self._fd, self._outbox)
            else:
                self._ser.write(bytes(self._outbox))
                written = len(self._outbox)
        except BlockingIOError:
            written = 0
        except Exception as exc:
            self._outbox.clear()
            self._fail(f"{self.port}: write failed: {exc}")
            return
        self.stats.tx_bytes += written
        del self._outbox[:written]
        if self._outbox:  # the port's buffer is full: the rest goes shortly
            asyncio.get_running_loop().call_later(0.01, self._flush)
