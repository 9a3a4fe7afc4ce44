import pytest

from services.common.topics import TopicError, Topics


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
