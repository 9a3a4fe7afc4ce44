"""The controller's own disk: the configuration it runs, the targets it owns, and each
loop's last autotune result.

With it the controller starts and controls with no broker and no API (a lager in a
warm room must not wait for the network). Written atomically — a temporary file,
fsync, rename, fsync of the directory — so a power cut leaves the old state or the
new one, never half of each; a checksum catches a file damaged any other way.

The file is versioned (`format`). A file that is missing starts empty; one that is
damaged, truncated or of an unknown format is moved aside (`.bad`) with a warning,
and the controller falls back to what the broker holds.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

FORMAT = 1


class StateFileError(ValueError):
    """The file exists but cannot be trusted."""


@dataclass
class Snapshot:
    """What is on disk: configuration objects as JSON, tombstones, targets as JSON."""

    config: dict[str, dict[str, Any]] = field(default_factory=dict)
    """kind → id → the object's JSON (settings: key → value)."""
    tombstones: dict[str, dict[str, int]] = field(default_factory=dict)
    """kind → id → the version it had when it was deleted (it must stay deleted)."""
    targets: dict[str, dict[str, Any]] = field(default_factory=dict)
    """loop id → LoopTarget JSON."""
    tuning: dict[str, dict[str, Any]] = field(default_factory=dict)
    """loop id → its last finished autotune run (AutotuneState JSON): the identified plant
    and the proposal outlive a restart."""
    trips: dict[str, dict[str, str]] = field(default_factory=dict)
    """loop id → its latched protection trip: the alarm's kind and message."""
    instance: str | None = None
    """This controller's lease identity: the same after a restart (kill -9 included), so it
    takes back its own devices at once instead of waiting for its old leases to lapse."""

    def body(self) -> dict[str, Any]:
        return {
            "config": self.config,
            "tombstones": self.tombstones,
            "targets": self.targets,
            "tuning": self.tuning,
            "trips": self.trips,
            "instance": self.instance,
        }


def _digest(body: dict[str, Any]) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


class StateFile:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def load(self) -> Snapshot:
        """The state on disk; an empty one when there is none or it cannot be trusted."""
        try:
            return self._read()
        except FileNotFoundError:
            return Snapshot()
        except StateFileError as exc:
            aside = self.path.with_name(self.path.name + ".bad")
            with contextlib.suppress(OSError):
                os.replace(self.path, aside)
            log.warning(
                "controller state %s is unusable (%s); moved to %s, starting from the "
                "broker's configuration",
                self.path,
                exc,
                aside.name,
            )
            return Snapshot()

    def _read(self) -> Snapshot:
        raw = self.path.read_bytes()
        try:
            doc = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise StateFileError(f"not JSON ({exc})") from exc
        if not isinstance(doc, dict) or not isinstance(doc.get("body"), dict):
            raise StateFileError("not a controller state file")
        if doc.get("format") != FORMAT:
            raise StateFileError(f"format {doc.get('format')!r}, this controller reads {FORMAT}")
        body = doc["body"]
        if doc.get("sha256") != _digest(body):
            raise StateFileError("checksum mismatch")
        try:
            return Snapshot(
                config={k: dict(v) for k, v in body.get("config", {}).items()},
                tombstones={k: dict(v) for k, v in body.get("tombstones", {}).items()},
                targets=dict(body.get("targets", {})),
                tuning=dict(body.get("tuning", {})),
                trips=dict(body.get("trips", {})),  # absent from files before trips were kept
                instance=body.get("instance") if isinstance(body.get("instance"), str) else None,
            )
        except (TypeError, ValueError, AttributeError) as exc:
            raise StateFileError(f"malformed ({exc})") from exc

    def save(self, snapshot: Snapshot) -> None:
        body = snapshot.body()
        doc = {"format": FORMAT, "sha256": _digest(body), "body": body}
        data = json.dumps(doc, ensure_ascii=False, indent=1).encode()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # the rename itself must survive a power cut
        finally:
            os.close(dir_fd)
