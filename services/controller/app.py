"""Composes the controller: every part, in dependency order, on one screen.

    disk state → MQTT client → alarms → configuration → targets → devices → loops
    → watchdogs → commands → supervisor

The configuration and targets come from the controller's own disk first, so it
drives its boards with no broker and no API; the broker's copies follow.

`running_controller()` is what `python -m services.controller` runs and what
the tests run in-process (with a simulated clock and scaled timing).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from services.common.clock import WallStepDetector
from services.common.config import Config
from services.common.logs import MqttLogHandler, attach_mqtt_logging, detach_mqtt_logging
from services.common.mqtt import Message, MqttClient
from services.common.repeater import Repeater
from services.common.schema.commands import CommandError, parse_simulate_command
from services.common.schema.config import Severity
from services.common.schema.state import AutotuneState, LoopState
from services.common.topics import Topics
from services.controller.alarms import AlarmManager
from services.controller.backfill import Backfill
from services.controller.configuration import RunningConfig
from services.controller.control.contactor import MasterContactors
from services.controller.control.loop import LoopEnv
from services.controller.control.manager import LoopManager
from services.controller.devices.boards import SimulatedDevice
from services.controller.devices.leases import Leases, new_instance_id
from services.controller.devices.registry import DeviceContext, Registry
from services.controller.events import events
from services.controller.options import Options
from services.controller.state_file import Snapshot, StateFile
from services.controller.targets import Targets
from services.controller.trips import Trips
from services.controller.watchdogs import Watchdogs

log = logging.getLogger(__name__)


@dataclass
class Controller:
    config: Config
    options: Options
    mqtt: MqttClient
    alarms: AlarmManager
    store: RunningConfig
    targets: Targets
    registry: Registry
    loops: LoopManager
    wall_steps: WallStepDetector
    watchdogs: Watchdogs
    killed: bool = False

    def kill(self) -> None:
        """Leave `running_controller` as kill -9 would (the fault campaign): no output is
        switched off, no alarm, lease or state cleared, no `offline` said; the boards'
        ports just close."""
        self.killed = True

    # configuration → devices and loops ------------------------------------------------------------
    async def on_config(self, kind: str, object_id: str, value: Any) -> None:
        if kind == "devices":
            await self.registry.apply(object_id, value)
            self.loops.reconcile()
        elif kind == "loops":
            self.loops.reconcile()
        elif kind == "profiles":
            self.loops.profile_changed(object_id)

    def on_simulate(self, message: Message) -> None:
        parts = self.mqtt.topics.parts(message.topic)
        if len(parts) != 4:
            return
        device_id = parts[2]
        driver = self.registry.simulated(device_id)
        if driver is None:
            if self.registry.drives(device_id):
                log.warning("simulate: device %s is not a simulated board", device_id)
            return
        try:
            cmd = parse_simulate_command(message.payload)
            sim = driver.sim
            if cmd.sensor is not None and cmd.fault is not None:
                sim.set_sensor_fault(cmd.sensor, cmd.fault)
            if cmd.output is not None and cmd.fault is not None:
                channel = driver.channel_of(cmd.output)
                if channel is None:
                    raise ValueError(f"no actuator {cmd.output!r} with a channel")
                sim.set_output_fault(channel, cmd.fault)
            if cmd.board is not None:
                sim.set_mode(cmd.board)
            if cmd.input is not None and cmd.level is not None:
                sim.set_input(cmd.input, cmd.level)
            if cmd.hydrometer is not None:
                if driver.hydrometer is None:
                    raise ValueError("this simulated board has no hydrometer (a fermenter has)")
                driver.hydrometer.set_mode(cmd.hydrometer)
        except (CommandError, ValueError) as exc:
            log.warning("simulate on %s dropped: %s", device_id, exc)
            return
        log.warning("simulation on %s: %s", device_id, message.payload.decode(errors="replace"))

    def supervise(self) -> None:
        now = self.options.clock.monotonic()
        step = self.wall_steps.check()
        if step is not None:
            # Nothing else moves: every protection timer is monotonic (docs/safety.md).
            events.warning("wall clock stepped by %+.0f s; protection timers unaffected", step)
        self.registry.supervise(now)
        self.loops.supervise(now)
        self.watchdogs.supervise(self.loops.loops)  # after the loops: on what they decided

    async def settle(self, timeout: float = 5.0) -> None:
        """Wait until every simulated board and its host driver have read what the
        other wrote (for simulated-time runs: nothing may be left in flight when
        the clock moves on)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        quiet = spins = 0
        while quiet < 2:
            busy = False
            for driver in self.registry.drivers.values():
                if isinstance(driver, SimulatedDevice) and driver.board is not None:
                    busy |= _in_flight(driver)
            quiet = 0 if busy else quiet + 1
            spins += 1
            if busy and loop.time() > deadline:
                log.debug("settle: gave up waiting for the simulated boards")
                return
            await asyncio.sleep(0 if spins < 50 else 0.0002)


def _in_flight(driver: SimulatedDevice) -> bool:
    sim, board = driver.sim, driver.board
    assert board is not None
    if not board.is_open:
        return False
    if not sim.attached:
        sim.poll()  # the host has just opened the port: the board resets now
        return sim.attached
    return (
        sim.pending_output
        or board.pending_output
        or sim.tx_bytes != board.stats.rx_bytes
        or board.stats.tx_bytes != sim.rx_bytes
    )


@contextlib.asynccontextmanager
async def running_controller(
    config: Config, options: Options | None = None
) -> AsyncIterator[Controller]:
    options = options or Options()
    clock = options.clock
    # infrastructure
    mqtt = MqttClient(config, "controller")
    await mqtt.start()
    # readings taken while the broker is away are held and published once it is back
    data = Backfill(mqtt, clock)
    data.start()  # its connect hook first: the backlog goes out before the fresh state
    log_handler = attach_mqtt_logging(mqtt, "controller")
    events_handler = MqttLogHandler(mqtt, "controller", level=logging.INFO)
    events.addHandler(events_handler)
    # alarms first: retained alarms rebuild their state before loops evaluate theirs
    alarms = AlarmManager(mqtt, clock)
    alarms.start()
    # what this controller ran last, from its own disk
    state_file = StateFile(options.state_path) if options.state_path else None
    snapshot = state_file.load() if state_file else Snapshot()

    def save() -> None:
        if state_file is not None:
            store.snapshot_into(snapshot)
            targets.snapshot_into(snapshot)
            trips.snapshot_into(snapshot)
            state_file.save(snapshot)

    store = RunningConfig(
        mqtt,
        save,
        on_invalid=lambda *refused: config_refused(alarms, *refused),
        key=config.config_key,
    )
    if config.config_key is None:
        log.info("MAELSTROM_CONFIG_KEY is not set: configuration is obeyed unsigned")
    restored = store.restore(snapshot)
    targets = Targets(mqtt, clock, save)
    targets.restore(snapshot)
    tunings = restored_tunings(snapshot)

    def remember_tuning(loop_id: str, status: AutotuneState | None) -> None:
        if status is None:
            tunings.pop(loop_id, None)
            if snapshot.tuning.pop(loop_id, None) is None:
                return
        else:
            tunings[loop_id] = status
            snapshot.tuning[loop_id] = status.model_dump(mode="json")
        save()

    trips = Trips(save)
    trips.restore(snapshot)
    if restored:
        log.info("started from %d configuration objects on disk", restored)
    if snapshot.instance is None:
        snapshot.instance = new_instance_id(config.controller_id)
        save()
    registry: Registry | None = None
    leases = Leases(
        mqtt,
        clock,
        alarms,
        snapshot.instance,
        config.controller_id,
        options.timing.lease_renew_s,
        on_lost=lambda device_id: registry.lease_lost(device_id) if registry else None,
    )
    leases.start()  # before the configuration: retained leases arrive first
    registry = Registry(
        DeviceContext(
            clock=clock,
            mqtt=mqtt,
            alarms=alarms,
            timing=options.timing,
            controller_id=config.controller_id,
            sim_seed=options.sim_seed,
            leases=leases,
            data=data,
            sim_boards=options.sim_boards,
        )
    )
    loops = LoopManager(
        LoopEnv(
            clock=clock,
            registry=registry,
            alarms=alarms,
            profiles=store.profiles,
            publish=lambda loop_id, state: publish_state(data, mqtt.topics, loop_id, state),
            commit=lambda target: targets.commit(target),
            publish_every_s=options.timing.publish_every_s,
            contactors=MasterContactors(registry),
            tunings=tunings,
            remember_tuning=remember_tuning,
            trips=trips,
        ),
        store.loops,
        store.devices,
        config.controller_id,
        options.timing.orphan_grace_s,
        targets,
    )
    watchdogs = Watchdogs(clock, alarms, registry, store.devices, store.profiles)
    controller = Controller(
        config,
        options,
        mqtt,
        alarms,
        store,
        targets,
        registry,
        loops,
        WallStepDetector(clock),
        watchdogs,
    )
    alarms.on_change(lambda alarm: loops.alarms_changed(alarm.source))
    targets.on_adopted(loops.adopted)
    for device_id, device in store.devices.items():  # the disk's devices, before their loops
        await registry.apply(device_id, device)
    loops.reconcile()
    store.on_change(controller.on_config)
    targets.start()  # subscribed before the configuration: its retained copies come first
    # After any reconnect the broker's retained state may be a stale autosave: say it anew.
    mqtt.on_connect(lambda: loops.publish_all(clock.monotonic()))
    store.start()
    mqtt.subscribe(mqtt.topics.all_loop_commands, controller.loops.on_command)
    mqtt.subscribe(mqtt.topics.all_device_simulate, controller.on_simulate)
    supervisor = Repeater(
        "controller-supervisor", controller.supervise, options.timing.supervise_s, clock
    ).start()
    log.info("controller%s started", f" {config.controller_id}" if config.controller_id else "")
    try:
        yield controller
    finally:
        await supervisor.stop()
        if controller.killed:
            controller.loops.abandon_all()
            await registry.abandon()
        else:
            controller.loops.stop_all()  # every output off before the boards are let go
            watchdogs.stop()
            await registry.stop()
        events.removeHandler(events_handler)
        detach_mqtt_logging(log_handler)
        await data.stop()
        await mqtt.stop(say_offline=not controller.killed)


def restored_tunings(snapshot: Snapshot) -> dict[str, AutotuneState]:
    """Each loop's last autotune run from the disk (one that does not load is dropped)."""
    tunings = {}
    for loop_id, data in snapshot.tuning.items():
        try:
            tunings[loop_id] = AutotuneState.model_validate(data)
        except ValueError as exc:
            log.warning("stored autotune of loop %s does not load: %s", loop_id, exc)
    return tunings


def config_refused(alarms: AlarmManager, kind: str, object_id: str, reason: str | None) -> None:
    """A configuration that breaks a rule is refused (the last valid one stays) with an
    alarm, since it arrives on a topic anyone may publish on (docs/safety.md)."""
    alarms.condition(
        f"{object_id}-config",
        reason is not None,
        f"Refused the configuration of {kind[:-1]} {object_id}: {reason}",
        kind="config",
        severity=Severity.high,
        source=object_id,
    )


def publish_state(data: Backfill, topics: Topics, loop_id: str, state: LoopState | None) -> None:
    """A loop's live state, retained, QoS 1 (a few a second at most; the UI and Home
    Assistant rely on the latest one). None removes it (the loop was deleted)."""
    payload = state.model_dump(mode="json") if state is not None else None
    data.publish(topics.loop_state(loop_id), payload, qos=1, retain=True)
