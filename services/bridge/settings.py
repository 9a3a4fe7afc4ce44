"""The bridge's tunables, with defaults that suit a brewery's UI on a Raspberry Pi."""

from __future__ import annotations

from dataclasses import dataclass

from services.common.config import Config
from services.common.topics import Topics


def default_publish_acl(topics: Topics) -> tuple[str, ...]:
    """Where a browser may publish unless `MAELSTROM_WS_PUBLISH_ACL` says otherwise:
    loop commands, alarms (raise, ack) and the UI's own log source."""
    return (topics.all_commands, topics.channel_filter("alarms"), topics.logs("ui"))


@dataclass(frozen=True)
class BridgeSettings:
    publish_acl: tuple[str, ...]
    """Filters a browser may publish to; anything else is refused with an error frame."""
    api_token: str | None = None
    """When set, `/ws` requires it (`?token=` or `Authorization: Bearer`)."""
    queue_limit: int = 1000
    """Messages waiting for one browser before its queue keeps only the latest per topic."""
    stall_timeout: float = 15.0
    """Seconds a browser may accept nothing while messages wait, before it is closed
    (1013, "too slow"). Never more than `stall_limit` allows."""
    batch_window: float = 0.005
    """At high rates, frames to one browser go out at most this often, as `batch` frames."""
    max_batch_window: float = 0.050
    """...widened up to this while the bridge is overloaded, so it catches up."""
    max_batch: int = 500
    """Messages in one `batch` frame at most."""
    heartbeat: float = 20.0
    """WebSocket ping interval; an idle browser also gets a `status` frame this often."""
    max_subscriptions: int = 256
    """Filters one browser may hold."""
    max_frame_bytes: int = 256 * 1024
    """Largest frame a browser may send."""
    priming_quiet: float = 0.1
    """After the broker accepts a new filter, its retained messages are taken to be all
    delivered once none arrived for this long (or a live message came after them)."""
    priming_max: float = 2.0
    """...and at the latest this long after the broker accepted the filter."""

    @property
    def stall_limit(self) -> float:
        """The stall timeout in force: at most three quarters of the heartbeat.

        A browser that stopped reading answers no ping either, and the WebSocket
        heartbeat cuts it (1006, no reason) `heartbeat` × 1.5 after its last pong.
        Closing it as too slow before that gives it the documented close, 1013
        with a reason, so the page knows to reconnect and why.
        """
        return min(self.stall_timeout, 0.75 * self.heartbeat)

    @classmethod
    def from_config(cls, config: Config, **overrides: object) -> BridgeSettings:
        acl = config.ws_publish_acl
        if acl is None:
            acl = default_publish_acl(Topics(config.topic_prefix))
        values: dict[str, object] = {"publish_acl": acl, "api_token": config.api_token}
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]
