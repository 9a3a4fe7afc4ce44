import pytest

from services.common.topics import TopicError, Topics, check_filter, check_topic


def test_contract_topics() -> None:
    t = Topics("maelstrom")
    assert t.loop_state("fermenter") == "maelstrom/data/fermenter"
    assert t.sensor_reading("sim", "beer") == "maelstrom/data/sensors/sim/beer"
    assert t.logs("api") == "maelstrom/logs/api"
    assert t.alarm("test") == "maelstrom/alarms/test"
    assert t.alarm_ack("test") == "maelstrom/alarms/test/ack"
    assert t.loop_command("fermenter", "setpoint") == "maelstrom/cmd/loops/fermenter/setpoint"
    assert t.config("loops", "fermenter") == "maelstrom/config/loops/fermenter"
    assert t.status("controller") == "maelstrom/status/controller"
    assert t.channel("alarms", "a/b") == "maelstrom/alarms/a/b"


def test_prefix_is_honoured() -> None:
    assert Topics("brewery1").loop_state("k1") == "brewery1/data/k1"


@pytest.mark.parametrize("bad", ["", "a/b", "a+", "#"])
def test_ids_cannot_break_the_tree(bad: str) -> None:
    with pytest.raises(TopicError):
        Topics().loop_state(bad)


def test_unknown_channel_refused() -> None:
    with pytest.raises(TopicError, match="unknown channel"):
        Topics().channel("secrets", "x")


def test_parts() -> None:
    assert Topics().parts("maelstrom/cmd/loops/f/mode") == ["cmd", "loops", "f", "mode"]
    assert Topics().parts("other/x") == []


@pytest.mark.parametrize(
    "bad",
    [
        "a/\x01",
        "a/\x1f",
        "a/\x7f",
        "a/\x85",
        "a/\x9f",
        "a/\ufdd0",
        "a/\ufffe",
        "a/\U0001ffff",
        "a/\ud800",
        "a/\0",
        "a/+",
        "a/#",
        "",
        "a" * 65536,
    ],
)
def test_a_publish_topic_is_refused_as_mosquitto_would(bad: str) -> None:
    with pytest.raises(TopicError):
        check_topic(bad)


@pytest.mark.parametrize("good", ["a/b", "maelstrom/data/küche", "a/\xa0", "a/\U0001f37a", "a/ "])
def test_ordinary_unicode_topics_pass(good: str) -> None:
    assert check_topic(good) == good


@pytest.mark.parametrize("bad", ["a/\x01/#", "a/+/\x7f", "\x90"])
def test_a_filter_with_a_refused_character_is_refused(bad: str) -> None:
    with pytest.raises(TopicError):
        check_filter(bad)


def test_a_channel_topic_is_checked_whole() -> None:
    with pytest.raises(TopicError, match="U\\+007F"):
        Topics().channel("data", "x\x7fy")
