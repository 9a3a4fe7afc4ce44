"""Latched protection trips, kept on the controller's own disk.

A trip holds a loop's outputs off until the brewer acknowledges its alarm. Its
retained alarm keeps it across a restart while the broker is up; this keeps it when
the controller restarts with the broker down (or with its retained alarm lost), so a
restart is never a way to reset a protection.
"""

from __future__ import annotations

from collections.abc import Callable

from services.controller.state_file import Snapshot


class Trips:
    def __init__(self, save: Callable[[], None]) -> None:
        self.latched: dict[str, tuple[str, str]] = {}  # loop id → (alarm kind, message)
        self._save = save

    def restore(self, snapshot: Snapshot) -> None:
        self.latched = {
            loop_id: (trip["kind"], trip["message"])
            for loop_id, trip in snapshot.trips.items()
            if isinstance(trip, dict)
            and isinstance(trip.get("kind"), str)
            and isinstance(trip.get("message"), str)
        }

    def snapshot_into(self, snapshot: Snapshot) -> None:
        snapshot.trips = {
            loop_id: {"kind": kind, "message": message}
            for loop_id, (kind, message) in self.latched.items()
        }

    def latch(self, loop_id: str, kind: str, message: str) -> None:
        if self.latched.get(loop_id) != (kind, message):
            self.latched[loop_id] = (kind, message)
            self._save()

    def clear(self, loop_id: str) -> None:
        if self.latched.pop(loop_id, None) is not None:
            self._save()
