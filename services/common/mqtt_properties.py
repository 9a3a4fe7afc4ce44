"""MQTT 5 properties of incoming packets, decoded without paho's per-packet overhead.

paho-mqtt builds every `Properties` object from scratch (its tables of 27 names
and types, per packet) and decodes each property through name look-ups that strip
spaces from every name in turn: about 40 % of the bridge's CPU per message went
there (cProfile, docs/benchmarks.md). `FastProperties` is paho's class with the
tables shared and the decoding done by identifier; what it produces is the same
objects, attributes and errors (tests/common/test_mqtt_properties.py compares the
two on every property). `install()` makes paho's packet decoder use it.
"""

from __future__ import annotations

from typing import Any

from paho.mqtt import _packet
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import MQTTException, Properties, VariableByteIntegers

_TEMPLATE = Properties(PacketTypes.PUBLISH)
_TYPES: list[str] = _TEMPLATE.types
_NAMES: dict[str, int] = _TEMPLATE.names
_PROPERTIES: dict[int, tuple[int, list[int]]] = _TEMPLATE.properties
_ATTRIBUTE = {ident: name.replace(" ", "") for name, ident in _NAMES.items()}
_MULTIPLE = {11, 38}  # Subscription Identifier, User Property: lists
_FAST = {2, 3, 8, 9, 11, 38}
"""Decoded here: expiry, content type, response topic, correlation, subscription ids,
user properties (what publishes carry). Others take paho's own checks."""
_PRIVATE = ("packetType", "types", "names", "properties")


class FastProperties(Properties):
    def __init__(self, packetType: int) -> None:
        d = self.__dict__
        d["packetType"] = packetType
        d["types"] = _TYPES
        d["names"] = _NAMES
        d["properties"] = _PROPERTIES

    def unpack(self, buffer: Any) -> tuple[Properties, int]:
        d = self.__dict__
        if len(d) > len(_PRIVATE):
            self.clear()
        propslen, vbi_len = VariableByteIntegers.decode(buffer)
        buffer = buffer[vbi_len:]
        left = propslen
        while left > 0:
            ident, ident_len = VariableByteIntegers.decode(buffer)
            buffer = buffer[ident_len:]
            left -= ident_len
            kind, packets = _PROPERTIES[ident]
            value, value_len = self.readProperty(buffer, kind, left)
            buffer = buffer[value_len:]
            left -= value_len
            name = _ATTRIBUTE[ident]
            if ident not in _FAST:
                if ident not in _MULTIPLE and name in d:
                    raise MQTTException(f"Property '{name}' must not exist more than once")
                setattr(self, name, value)  # paho's own checks
                continue
            if self.packetType not in packets:
                raise MQTTException(
                    f"Property {name} does not apply to packet type "
                    f"{PacketTypes.Names[self.packetType]}"
                )
            if ident == 11 and not 1 <= value <= 268435455:
                raise MQTTException(f"{name} property value must be in the range 1-268435455")
            if ident in _MULTIPLE:
                d[name] = [*d.get(name, ()), value]
            elif name in d:
                raise MQTTException(f"Property '{name}' must not exist more than once")
            else:
                d[name] = value
        return self, propslen + vbi_len


def install() -> None:
    """paho's packet decoder makes FastProperties (for every client in this process)."""
    _packet.Properties = FastProperties  # type: ignore[misc]
