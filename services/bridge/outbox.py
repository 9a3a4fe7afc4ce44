"""What waits to go to one browser: a bounded FIFO that coalesces when the browser falls behind.

While the browser keeps up, every message goes out in order. When `limit`
messages are waiting, the outbox keeps only the latest message per topic (a
browser shows state: the newest setpoint is what matters) and counts what it
dropped; it returns to plain FIFO once drained. Replies to the browser's own
requests (`subscribed`, errors, status) are never dropped.
"""

from __future__ import annotations

from collections import OrderedDict, deque


class Frame:
    """One frame's JSON, UTF-8 encoded once and shared by every browser it goes to.

    `topic` is set for `message` frames (which may be coalesced and batched)
    and None for replies, which go out alone and are never dropped.
    """

    __slots__ = ("data", "topic")

    def __init__(self, text: str, topic: str | None = None) -> None:
        self.data = text.encode()
        self.topic = topic


class Outbox:
    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("outbox limit must be at least 1")
        self.limit = limit
        self.dropped = 0
        self._fifo: deque[Frame] = deque()
        self._latest: OrderedDict[object, Frame] | None = None
        self._replies = 0

    def __len__(self) -> int:
        return len(self._fifo) if self._latest is None else len(self._latest)

    @property
    def coalescing(self) -> bool:
        return self._latest is not None

    @property
    def replies(self) -> int:
        """Replies waiting (they are not bounded by `limit`, so the session watches them)."""
        return self._replies

    def put(self, frame: Frame) -> None:
        if frame.topic is None:
            self._replies += 1
        latest = self._latest
        if latest is None:
            if len(self._fifo) < self.limit or frame.topic is None:
                self._fifo.append(frame)
                return
            latest = self._latest = self._coalesce()
        key: object = frame if frame.topic is None else frame.topic
        if key in latest:
            self.dropped += 1  # replaced in place: the topic keeps its turn
        latest[key] = frame
        if len(latest) - self._replies > self.limit:  # replies do not count against it
            self._evict_oldest_message(latest)

    def take(self, most: int) -> list[Frame]:
        """Up to `most` frames, oldest first."""
        out: list[Frame] = []
        latest = self._latest
        if latest is not None:
            while latest and len(out) < most:
                out.append(latest.popitem(last=False)[1])
            if not latest:
                self._latest = None
        else:
            fifo = self._fifo
            while fifo and len(out) < most:
                out.append(fifo.popleft())
        self._replies -= sum(1 for f in out if f.topic is None)
        return out

    def _coalesce(self) -> OrderedDict[object, Frame]:
        latest: OrderedDict[object, Frame] = OrderedDict()
        for frame in self._fifo:
            key: object = frame if frame.topic is None else frame.topic
            if key in latest:
                self.dropped += 1
            latest[key] = frame
        self._fifo.clear()
        return latest

    def _evict_oldest_message(self, latest: OrderedDict[object, Frame]) -> None:
        # More topics than room: the oldest topic's message goes; replies stay.
        for key, frame in latest.items():
            if frame.topic is not None:
                del latest[key]
                self.dropped += 1
                return
