"""FastProperties decodes exactly what paho's Properties decodes, errors included."""

from __future__ import annotations

from typing import Any

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import MQTTException, Properties

from services.common.mqtt_properties import FastProperties

TABLES = ("packetType", "types", "names", "properties")


def decoded(cls: type[Properties], packet: int, data: bytes) -> tuple[dict[str, Any], int]:
    props, length = cls(packet).unpack(data)
    return {k: v for k, v in vars(props).items() if k not in TABLES}, length


def packed(packet: int, **values: Any) -> bytes:
    props = Properties(packet)
    for name, value in values.items():
        setattr(props, name, value)
    return props.pack()


@pytest.mark.parametrize(
    ("packet", "values"),
    [
        (PacketTypes.PUBLISH, {}),
        (
            PacketTypes.PUBLISH,
            {
                "PayloadFormatIndicator": 1,
                "MessageExpiryInterval": 30,
                "ContentType": "application/json",
                "ResponseTopic": "maelstrom/replies/api-1",
                "CorrelationData": b"\x00\x01c",
                "SubscriptionIdentifier": [3, 7],
                "UserProperty": [("by", "anna"), ("instance", "x"), ("by", "ben")],
                "TopicAlias": 4,
            },
        ),
        (
            PacketTypes.CONNACK,
            {
                "SessionExpiryInterval": 3600,
                "ReceiveMaximum": 20,
                "MaximumQoS": 1,
                "RetainAvailable": 1,
                "AssignedClientIdentifier": "auto-1",
                "TopicAliasMaximum": 10,
                "ReasonString": "ok",
                "WildcardSubscriptionAvailable": 1,
            },
        ),
        (PacketTypes.SUBACK, {"ReasonString": "granted", "UserProperty": [("a", "b")]}),
    ],
)
def test_every_property_decodes_as_paho_decodes_it(packet: int, values: dict[str, Any]) -> None:
    data = packed(packet, **values)
    assert decoded(FastProperties, packet, data) == decoded(Properties, packet, data)


def test_a_property_twice_or_out_of_place_is_refused_as_paho_refuses_it() -> None:
    twice = packed(PacketTypes.PUBLISH, ResponseTopic="a")
    body = twice[1:]
    doubled = bytes([len(body) * 2]) + body + body
    for cls in (Properties, FastProperties):
        with pytest.raises(MQTTException):
            cls(PacketTypes.PUBLISH).unpack(doubled)
    wrong = packed(PacketTypes.CONNACK, AssignedClientIdentifier="x")  # not for a PUBLISH
    for cls in (Properties, FastProperties):
        with pytest.raises(MQTTException):
            cls(PacketTypes.PUBLISH).unpack(wrong)
