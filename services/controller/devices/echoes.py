"""Contradicting echoes: a relay whose state echo keeps saying the opposite of our commands.

A Tasmota (or any MQTT relay with a state topic) echoes its state after every
command. One echo that contradicts the command proves little (an echo of the
previous command crossing this one). But when the echo contradicts
`CONTRADICTIONS_IN_A_ROW` commands in a row, something else is switching the
relay — a second controller without a lease, a Home Assistant automation, a
Tasmota rule or interlock, a button — and two masters make a compressor
short-cycle (the review saw 95 relay changes in 120 s). Then the controller:

* reports loss of control on the actuator point (`trouble`), so the loop's
  loss-of-control protection trips and latches every output of the loop off
  with the `<loop>-protection` alarm (control/protections.py);
* stops commanding the relay for `HOLD_S`, then sends its wanted state (off,
  once tripped) once to see whether it is obeyed; a command that then stands
  for a refresh period uncontradicted ends the episode (and the brewer's
  acknowledgement resets the protection).

"In a row": each command opens a period; the period is contradicted when an echo
of the other state arrives after it was obeyed (someone switched it back) or
instead of obeying (it refused). A contradiction followed by obedience within one
period is the stale echo, and does not count.
"""

from __future__ import annotations

import logging
import math

log = logging.getLogger(__name__)

CONTRADICTIONS_IN_A_ROW = 3
HOLD_S = 30.0
"""How long the controller stops commanding a relay that contradicted it."""


class EchoJudge:
    """One actuator's record of how its echoes answered our commands."""

    def __init__(self, name: str) -> None:
        self.name = name  # "device/actuator", for the log
        self.streak = 0  # commands contradicted in a row
        self._period: str | None = None  # None | "obeyed" | "contradicted"
        self._sent_at = -math.inf
        self._hold_until = -math.inf
        self._last: tuple[bool, bool] | None = None  # (told, echoed) of the last contradiction

    @property
    def trouble(self) -> str | None:
        if self.streak < CONTRADICTIONS_IN_A_ROW or self._last is None:
            return None
        told, echoed = self._last
        return (
            f"its state echo contradicted {self.streak} commands in a row "
            f"({'ON' if echoed else 'OFF'} when told {'ON' if told else 'OFF'}): "
            "something else is switching it"
        )

    def holding(self, now: float) -> bool:
        """True while the controller must not command the relay."""
        return now < self._hold_until

    def sent(self, now: float) -> None:
        """A command went out: a new period."""
        self._period = None
        self._sent_at = now

    def echo(self, told: bool, echoed: bool, now: float) -> None:
        if echoed == told:
            if self._period == "contradicted":
                self.streak -= 1  # a stale echo, then obedience: not a contradiction
            self._period = "obeyed"
            return
        if self._period == "contradicted":
            return  # one period counts once
        self._period = "contradicted"
        self._last = (told, echoed)
        self.streak += 1
        if self.streak == CONTRADICTIONS_IN_A_ROW:
            log.warning("%s: %s; not commanding it for %g s", self.name, self.trouble, HOLD_S)
        if self.streak >= CONTRADICTIONS_IN_A_ROW:
            self._hold_until = now + HOLD_S

    def supervise(self, now: float, refresh_s: float) -> None:
        """A command obeyed and left alone for a refresh period ends a streak."""
        if self._period == "obeyed" and now - self._sent_at >= refresh_s and self.streak:
            if self.streak >= CONTRADICTIONS_IN_A_ROW:
                log.info("%s obeys again", self.name)
            self.streak = 0
