"""Master contactors: the switch that feeds a group of loops' outputs.

A loop lists the contactor that feeds its element or compressor (`contactor`);
loops that list the same actuator share it. The controller energises it only
while at least one of them needs power (running, or an output on), and drops it
— and holds every loop on it off — while any of them has a latched protection
trip: a welded SSR that software cannot open is cut off upstream
(docs/safety.md). Acknowledging the trip (the protection's reset) lets the
loops on it resume.

The board's own watchdog switches a contactor off like any output when the host
goes quiet.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from services.controller.devices.registry import Registry

if TYPE_CHECKING:
    from services.controller.control.loop import LoopRuntime

log = logging.getLogger(__name__)


class MasterContactors:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._loops: dict[str, LoopRuntime] = {}
        self._tripped: dict[tuple[str, str], bool] = {}
        self._updating = False

    @staticmethod
    def key(runtime: LoopRuntime) -> tuple[str, str] | None:
        ref = runtime.cfg.contactor
        return None if ref is None else (ref.device, ref.id)

    def users(self, key: tuple[str, str]) -> list[LoopRuntime]:
        return [r for r in self._loops.values() if self.key(r) == key]

    def attach(self, runtime: LoopRuntime) -> None:
        self._loops[runtime.id] = runtime

    def detach(self, runtime: LoopRuntime) -> None:
        """The loop stopped: its contactor goes on without it (off if nobody needs it)."""
        if self._loops.get(runtime.id) is runtime:
            del self._loops[runtime.id]
        key = self.key(runtime)
        if key is not None:
            self.refresh(key)

    def refresh(self, key: tuple[str, str]) -> None:
        """Switch contactor `key` as the loops that list it now need (one moved away)."""
        self._set(key)

    def blocked(self, runtime: LoopRuntime) -> str | None:
        """Why this loop's contactor is held open by another loop's trip, or None."""
        key = self.key(runtime)
        if key is None:
            return None
        for other in self.users(key):
            if other is not runtime and other.guard.tripped is not None:
                return (
                    f"master contactor {key[0]}/{key[1]} open: {other.title}'s protection tripped"
                )
        return None

    def update(self, runtime: LoopRuntime) -> None:
        """After `runtime` decided: switch its contactor as its loops need."""
        key = self.key(runtime)
        if key is not None:
            self._set(key)

    def _set(self, key: tuple[str, str]) -> None:
        users = self.users(key)
        tripped = any(r.guard.tripped is not None for r in users)
        needs = any(r.needs_power for r in users)
        point = self.registry.actuator(*key)
        if point.desired != (needs and not tripped):
            log.info(
                "master contactor %s/%s %s",
                *key,
                "energised" if needs and not tripped else "dropped",
            )
        point.set(needs and not tripped)
        if self._tripped.get(key, False) != tripped:
            self._tripped[key] = tripped
            if not self._updating:  # the other loops on it hold off, or resume, now
                self._updating = True
                try:
                    for other in users:
                        if other.guard.tripped is None:
                            other.decide(sample=False)
                finally:
                    self._updating = False
