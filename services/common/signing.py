"""Configuration the API signs and the controller checks (MQTT 5 user property `sig`).

The broker's ACL already lets only the API's user publish `<prefix>/config/#`; the
signature is the second wall, for a broker we do not run (a brewery's cluster, an
ACL someone widened, a retained store someone edited): the controller obeys only
configuration that carries an HMAC-SHA256, under the secret `MAELSTROM_CONFIG_KEY`
the API and the controller share, over the scheme, the topic and the exact payload
bytes. The payload holds the object's `version`, so a signed version cannot be
passed off as another; a deletion (empty payload) and the index are signed too.

Retained messages keep their user properties in Mosquitto (and across its restarts:
they are in its persistence file), so the broker's retained copy stays checkable.
"""

from __future__ import annotations

import hashlib
import hmac

from services.common.mqtt import Message

SIGNATURE = "sig"
"""The MQTT 5 user property that carries the signature."""
SCHEME = "v1"
"""Written before the digest, so a later scheme can be told apart (and refused here)."""


def sign(key: bytes, topic: str, payload: bytes) -> str:
    mac = hmac.new(key, digestmod=hashlib.sha256)
    for part in (SCHEME.encode(), topic.encode(), payload):
        mac.update(len(part).to_bytes(8, "big"))  # lengths first: no two splits sign alike
        mac.update(part)
    return f"{SCHEME}:{mac.hexdigest()}"


def signed_by_api(key: bytes, message: Message) -> str | None:
    """None when `message` carries the API's signature, else why it is refused."""
    offered = message.user_property(SIGNATURE)
    if offered is None:
        return "it is not signed by the API (no MQTT 5 signature)"
    if not hmac.compare_digest(
        offered.encode(), sign(key, message.topic, message.payload).encode()
    ):
        return "its signature is not the API's (forged, altered, or signed with another key)"
    return None
