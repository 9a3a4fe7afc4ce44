"""The broker's retained messages, as far as the bridge's subscriptions can see them.

Fed by the upstream subscriptions (which keep the publisher's retain flag), so
a second browser subscribing to a filter the bridge already holds gets the
retained messages at once, from here, without a new SUBSCRIBE upstream.

An empty retained payload clears the topic, as on the broker. Each entry
remembers the connection (`epoch`) it was last confirmed on: after a
reconnect the broker re-sends what it still retains, and whatever it did not
re-send was cleared while the bridge was away, so it is purged.
"""

from __future__ import annotations

from collections.abc import Iterable

from services.common.topics import TopicFilter


class RetainedCache:
    def __init__(self) -> None:
        self._entries: dict[str, tuple[bytes, int]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, topic: str) -> bool:
        return topic in self._entries

    def get(self, topic: str) -> bytes | None:
        entry = self._entries.get(topic)
        return entry[0] if entry else None

    def update(self, topic: str, payload: bytes, epoch: int) -> None:
        """A retained message from the broker: store it, or clear the topic if empty."""
        if payload:
            self._entries[topic] = (payload, epoch)
        else:
            self._entries.pop(topic, None)

    def matching(self, topic_filter: TopicFilter) -> list[tuple[str, bytes]]:
        return [(t, p) for t, (p, _) in self._entries.items() if topic_filter.matches(t)]

    def purge_stale(self, topic_filter: TopicFilter, epoch: int) -> int:
        """Drop entries under `topic_filter` not confirmed since connection `epoch` began."""
        stale = [
            t for t, (_, seen) in self._entries.items() if seen < epoch and topic_filter.matches(t)
        ]
        for topic in stale:
            del self._entries[topic]
        return len(stale)

    def forget(self, topic_filter: TopicFilter, still_held: Iterable[TopicFilter]) -> None:
        """The bridge no longer subscribes `topic_filter`: drop what no other filter covers."""
        held = list(still_held)
        gone = [
            t
            for t in self._entries
            if topic_filter.matches(t) and not any(f.matches(t) for f in held)
        ]
        for topic in gone:
            del self._entries[topic]
