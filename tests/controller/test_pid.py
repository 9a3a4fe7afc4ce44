"""The PID: gains in brewing units, anti-windup, derivative on measurement, bumpless transfer."""

from __future__ import annotations

import pytest

from services.controller.control.pid import Pid


def test_proportional_output_in_percent_per_degree() -> None:
    pid = Pid(kp=40, ki=0, kd=0)
    assert pid.update(20.0, 19.5, now=0.0) == 20.0  # 0.5 °C low → 20 % heat
    assert pid.update(20.0, 21.0, now=1.0) == -40.0  # 1 °C high → 40 % cool


def test_integral_removes_a_steady_offset() -> None:
    pid = Pid(kp=10, ki=0.01, kd=0)
    outputs = [pid.update(20.0, 19.0, now=float(t)) for t in range(0, 1001, 10)]
    assert outputs[0] == 10.0
    assert outputs[-1] == pytest.approx(10.0 + 0.01 * 1.0 * 1000)  # 20 %


def test_anti_windup_the_integral_does_not_grow_while_saturated() -> None:
    pid = Pid(kp=50, ki=0.05, kd=0, out_min=0, out_max=100)
    for t in range(0, 7200, 10):  # two hours far below the setpoint (a lid open)
        assert pid.update(65.0, 20.0, now=float(t)) == 100.0
    assert pid.integral <= 100.0
    # once the error reverses, the output leaves saturation at once, not an hour later
    assert pid.update(65.0, 66.0, now=7200.0) < 100.0 - 40.0


def test_derivative_on_measurement_gives_no_kick_on_a_setpoint_change() -> None:
    pid = Pid(kp=0, ki=0, kd=100, d_filter_s=0)
    pid.update(20.0, 20.0, now=0.0)
    assert pid.update(30.0, 20.0, now=1.0) == 0.0  # setpoint jumped: no kick
    assert pid.update(30.0, 20.5, now=2.0) == -50.0  # the measurement rises: brakes


def test_bumpless_transfer_from_manual_starts_at_the_manual_output() -> None:
    pid = Pid(kp=40, ki=0.01, kd=0)
    pid.reset(output=35.0)  # the brewer had it at 35 % by hand
    assert pid.update(20.0, 19.0, now=0.0) == 35.0  # not 40 %: no bump
    assert pid.update(20.0, 19.0, now=10.0) > 35.0  # then it acts on the error


def test_retuning_keeps_the_output_steady() -> None:
    pid = Pid(kp=40, ki=0.01, kd=0)
    for t in range(0, 600, 10):
        out = pid.update(20.0, 20.0 - 0.1, now=float(t))
    pid.tune(kp=40, ki=0.05, kd=0)
    assert abs(pid.update(20.0, 19.9, now=600.0) - out) < 0.1


def test_output_limits_follow_the_loop_outputs() -> None:
    pid = Pid(kp=40, ki=0, kd=0, out_min=0, out_max=100)  # heater only
    assert pid.update(20.0, 25.0, now=0.0) == 0.0
