"""A PID controller in the spirit of simple-pid, with the clock passed in.

* Derivative on measurement (filtered): a setpoint change gives no derivative kick,
  and the DS18B20's 1/16 °C steps do not make the output twitch.
* Anti-windup: the integral is clamped to the output limits and stops growing while
  the output is saturated in the direction the error pushes.
* Bumpless transfer: `reset(output)` makes the next update start from `output`
  (e.g. the last manual output), whatever the error is then.
* The integral is kept in output units (%), so retuning Ki does not bump the output.
"""

from __future__ import annotations


class Pid:
    def __init__(
        self,
        kp: float,
        ki: float,
        kd: float,
        *,
        out_min: float = -100.0,
        out_max: float = 100.0,
        d_filter_s: float = 120.0,
    ) -> None:
        self.kp = kp  # output % per °C of error
        self.ki = ki  # output % per °C·s of accumulated error
        self.kd = kd  # output % per °C/s of measurement change
        self.out_min = out_min
        self.out_max = out_max
        self.d_filter_s = d_filter_s  # time constant of the derivative's low-pass filter
        self.integral = 0.0
        self.p = self.d = 0.0
        self.output = 0.0
        self._slope = 0.0  # filtered d(pv)/dt, °C/s
        self._last_pv: float | None = None
        self._last_t: float | None = None
        self._bumpless_to: float | None = None

    def tune(self, kp: float, ki: float, kd: float) -> None:
        self.kp, self.ki, self.kd = kp, ki, kd

    def set_limits(self, out_min: float, out_max: float) -> None:
        self.out_min, self.out_max = out_min, out_max
        self.integral = self._clamp(self.integral)
        self.output = self._clamp(self.output)

    def reset(self, output: float | None = None) -> None:
        """Bumpless transfer: the next update starts from `output` (default: the last one)."""
        self._bumpless_to = self._clamp(self.output if output is None else output)
        self.restart()

    def restart(self, integral: float | None = None) -> None:
        """Forget the time and measurement history (after a gap in readings); keep the
        integral, or set it to `integral`."""
        if integral is not None:
            self.integral = self._clamp(integral)
        self._last_pv = None
        self._last_t = None
        self._slope = 0.0

    def update(self, setpoint: float, pv: float, now: float) -> float:
        error = setpoint - pv
        dt = 0.0 if self._last_t is None else max(0.0, now - self._last_t)
        if self._last_pv is not None and dt > 0:
            raw = (pv - self._last_pv) / dt
            alpha = dt / (self.d_filter_s + dt)
            self._slope += alpha * (raw - self._slope)
        self._last_pv, self._last_t = pv, now
        self.p = self.kp * error
        self.d = -self.kd * self._slope
        if self._bumpless_to is not None:
            self.integral = self._clamp(self._bumpless_to - self.p - self.d)
            self._bumpless_to = None
        else:
            integral = self.integral + self.ki * error * dt
            unclamped = self.p + integral + self.d
            winding_up = (unclamped > self.out_max and error > 0) or (
                unclamped < self.out_min and error < 0
            )
            if not winding_up:
                self.integral = self._clamp(integral)
        self.output = self._clamp(self.p + self.integral + self.d)
        return self.output

    def _clamp(self, value: float) -> float:
        return min(self.out_max, max(self.out_min, value))
