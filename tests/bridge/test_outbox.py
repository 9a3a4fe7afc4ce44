"""A browser's outbox: FIFO while it keeps up; latest-per-topic, counted, when it falls behind."""

from __future__ import annotations

from services.bridge.outbox import Frame, Outbox


def message(topic: str, seq: int) -> Frame:
    return Frame(f'{{"topic":"{topic}","seq":{seq}}}', topic)


def drain(outbox: Outbox) -> list[bytes]:
    return [f.data for f in outbox.take(10_000)]


def test_in_order_while_under_the_limit() -> None:
    outbox = Outbox(limit=10)
    frames = [message(f"t{i % 3}", i) for i in range(10)]
    for f in frames:
        outbox.put(f)
    assert drain(outbox) == [f.data for f in frames]
    assert outbox.dropped == 0 and not outbox.coalescing


def test_when_full_only_the_latest_per_topic_stays_and_drops_are_counted() -> None:
    outbox = Outbox(limit=4)
    for seq in range(100):
        outbox.put(message(f"t{seq % 3}", seq))
    assert outbox.coalescing
    assert drain(outbox) == [message("t0", 99).data, message("t1", 97).data, message("t2", 98).data]
    assert outbox.dropped == 97
    assert not outbox.coalescing  # drained: back to plain FIFO
    outbox.put(message("t0", 100))
    outbox.put(message("t0", 101))
    assert drain(outbox) == [message("t0", 100).data, message("t0", 101).data]


def test_replies_are_never_dropped_or_merged() -> None:
    outbox = Outbox(limit=2)
    subscribed = Frame('{"op":"subscribed","topic":"a/#"}')
    error = Frame('{"op":"error"}')
    outbox.put(message("a", 1))
    outbox.put(subscribed)
    outbox.put(message("a", 2))
    outbox.put(message("a", 3))
    outbox.put(error)
    outbox.put(message("b", 4))
    outbox.put(message("c", 5))  # more topics than room: the oldest message goes, not a reply
    assert outbox.replies == 2
    assert drain(outbox) == [
        subscribed.data,
        error.data,
        message("b", 4).data,
        message("c", 5).data,
    ]
    assert outbox.replies == 0
    assert outbox.dropped == 3


def test_take_returns_at_most_what_was_asked() -> None:
    outbox = Outbox(limit=100)
    for seq in range(10):
        outbox.put(message("t", seq))
    assert len(outbox.take(3)) == 3
    assert len(outbox) == 7
