"""The batch window: the base while the bridge keeps up, wider while it is overloaded."""

from __future__ import annotations

from services.bridge.session import Pace


def test_window_widens_under_overload_and_returns_when_calm() -> None:
    pace = Pace(base=0.005, most=0.050)
    pace.adjust(lag=0.001, backlog=0)
    assert pace.window == 0.005
    for _ in range(10):
        pace.adjust(lag=0.2, backlog=0)  # the event loop lags
    assert pace.window == 0.050
    pace.adjust(lag=0.001, backlog=1000)  # messages queue up before dispatch
    assert pace.window == 0.050
    for _ in range(10):
        pace.adjust(lag=0.001, backlog=0)
    assert pace.window == 0.005


def test_in_between_the_window_holds() -> None:
    pace = Pace(base=0.005, most=0.050)
    pace.adjust(lag=0.2, backlog=0)
    widened = pace.window
    pace.adjust(lag=0.010, backlog=100)
    assert pace.window == widened
