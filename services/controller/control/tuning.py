"""A loop's autotune run at run time: the `autotune` command, the safety rules around
the relay, and what the loop's state shows (the pure algorithm is `autotune.py`).

The run borrows the loop's outputs, never its target: the loop stays in `constant`
mode at its setpoint, and the run ends — outputs back to the PID, bumplessly — as
soon as anything else happens to the loop: a protection trips, the sensor faults,
the brewer changes the mode or the setpoint, or aborts it.
"""

from __future__ import annotations

from services.common.schema.commands import AutotuneCommand, CommandError
from services.common.schema.config import Loop, LoopMode
from services.common.schema.state import AutotuneState, IdentifiedPlantState, PidProposal
from services.controller.control import rehearsal
from services.controller.control.autotune import Phase, RelayAutotune, RelaySettings, Rule
from services.controller.control.core import cooler_timing, heater_timing

START_BAND_C = 1.0
"""A run starts only this close to the setpoint: the relay is to oscillate around it."""


def refine(run: RelayAutotune, loop: Loop, output: str) -> None:
    """A finished SIMC run's proposal, rehearsed on the identified plant through the
    loop's own control code (control/rehearsal.py): the candidate that steps and holds
    best there, the loop's present gains included."""
    if run.plant is None or run.bias is None or run.settings.rule != Rule.simc:
        return
    run.proposal = rehearsal.choose(loop, run.plant, run.bias, output, run.settings.window_s)


class Tuning:
    def __init__(self, last: AutotuneState | None = None) -> None:
        """`last`: the loop's last finished run, as kept on disk across a restart (a run
        cut short by the restart counts as aborted; its plant and proposal stay)."""
        self.run: RelayAutotune | None = None
        if last is not None and last.phase == "running":
            last = last.model_copy(
                update={"phase": "aborted", "reason": "the controller restarted"}
            )
        self.status: AutotuneState | None = last
        self._loop: Loop | None = None  # the loop as the run started

    @property
    def running(self) -> bool:
        return self.run is not None and self.run.phase == Phase.running

    def command(
        self,
        cmd: AutotuneCommand,
        loop: Loop,
        pv: float | None,
        tripped: str | None,
        output: float,
        now: float,
        wall: float,
        by: str,
    ) -> None:
        """Apply `cmd`; raises CommandError saying why it cannot be."""
        if cmd.action == "abort":
            if not self.running:
                raise CommandError("autotune abort: no autotune is running")
            self.abort(f"aborted by {by}")
            return
        if cmd.action == "discard":
            if self.status is None or self.status.proposal is None:
                raise CommandError("autotune discard: there is no proposal to discard")
            if self.running:
                raise CommandError("autotune discard: a run is still going: abort it")
            self.status = self.status.model_copy(update={"proposal": None, "phase": "discarded"})
            return
        if self.running:
            raise CommandError("autotune start: a run is already going")
        if tripped is not None:
            raise CommandError(f"autotune start: a protection holds the outputs off ({tripped})")
        if loop.mode != LoopMode.constant:
            raise CommandError("autotune start: the loop must hold a constant setpoint")
        if pv is None:
            raise CommandError("autotune start: no sane reading from the loop's sensor")
        if abs(pv - loop.setpoint) > START_BAND_C:
            raise CommandError(
                f"autotune start: {pv:.2f} °C is more than {START_BAND_C:g} °C from the "
                f"setpoint {loop.setpoint:g} °C; let the loop settle first"
            )
        kind = cmd.output or self._default_output(loop, output)
        if (kind == "heat" and loop.heater is None) or (kind == "cool" and loop.cooler is None):
            raise CommandError(
                f"autotune start: the loop has no {'heater' if kind == 'heat' else 'cooler'}"
            )
        high, low = (cmd.step_pct, 0.0) if kind == "heat" else (0.0, -cmd.step_pct)
        # the window the tuned PID's duty goes through: the output's type's, if declared
        window = (heater_timing(loop) if kind == "heat" else cooler_timing(loop)).window_s
        settings = RelaySettings(
            setpoint=loop.setpoint,
            high=high,
            low=low,
            hysteresis_c=cmd.hysteresis_c,
            max_deviation_c=cmd.max_deviation_c,
            cycles=cmd.cycles,
            rule=Rule(cmd.rule),
            window_s=window,
        )
        self.run = RelayAutotune(settings, now)
        self._loop = loop
        plant = self.status.plant if self.status is not None else None
        self.status = AutotuneState(
            phase="running",
            output=kind,
            started_at=round(wall),
            by=by,
            cycles_needed=self.run.cycles_needed,
            plant=plant,
        )

    @staticmethod
    def _default_output(loop: Loop, output: float) -> str:
        if loop.heater is None:
            return "cool"
        if loop.cooler is None:
            return "heat"
        return "cool" if output < 0 else "heat"

    def check(self, loop: Loop, sp: float | None) -> None:
        """Whatever else happened to the loop ends the run."""
        if not self.running or self.run is None:
            return
        if loop.mode != LoopMode.constant:
            self.abort(f"the mode changed to {loop.mode}")
        elif sp != self.run.settings.setpoint:
            self.abort("the setpoint changed")

    def step(self, now: float, wall: float, pv: float, applied: float) -> float | None:
        """A sane reading during the run: the relay's output, or None once it ended."""
        run = self.run
        if run is None or run.phase != Phase.running:
            return None
        out = run.update(now, pv, applied)
        if run.phase == Phase.done and self._loop is not None and self.status is not None:
            refine(run, self._loop, self.status.output)
        self._publishable(wall)
        return out if run.phase == Phase.running else None

    def handover(self) -> float | None:
        """The output the PID takes over from when a run ends: the run's average, which is
        what holds the setpoint (the relay's last output is all or nothing)."""
        return self.run.bias if self.run is not None else None

    def abort(self, reason: str) -> None:
        if self.run is not None and self.run.phase == Phase.running:
            self.run.abort(reason)
            self._publishable(0.0)

    def _publishable(self, wall: float) -> None:
        run, status = self.run, self.status
        if run is None or status is None:
            return
        update: dict[str, object] = {"phase": run.phase.value, "cycles_done": run.cycles_done}
        if run.phase == Phase.aborted:
            update["reason"] = run.reason
        if run.plant is not None and run.proposal is not None and status.proposal is None:
            p = run.plant
            update["plant"] = IdentifiedPlantState(
                gain=float(f"{p.gain:.4g}"),
                time_constant_s=round(p.lag_s, 1),
                dead_time_s=round(p.dead_time_s, 1),
                ultimate_gain=round(p.ultimate_gain, 2),
                ultimate_period_s=round(p.ultimate_period_s, 1),
                amplitude_c=round(p.amplitude_c, 3),
                fit_rms_c=round(p.fit_rms_c, 4),
                identified_at=round(wall),
            )
            q = run.proposal
            update["proposal"] = PidProposal(
                rule=q.rule.value,
                kp=float(f"{q.kp:.4g}"),
                ki=float(f"{q.ki:.4g}"),
                kd=float(f"{q.kd:.4g}"),
            )
        self.status = status.model_copy(update=update)

    def configured(self, loop: Loop) -> None:
        """The loop's configuration changed: is its PID now the proposal?"""
        status = self.status
        if status is None or status.proposal is None:
            return
        pid, q = loop.pid, status.proposal
        applied = pid is not None and (pid.kp, pid.ki, pid.kd) == (q.kp, q.ki, q.kd)
        if applied != status.applied:
            self.status = status.model_copy(update={"applied": applied})

    def key(self) -> object:
        """What a brewer would see change (the loop publishes when it does)."""
        s = self.status
        return None if s is None else (s.phase, s.cycles_done, s.applied, s.proposal is None)
