"""The `/ws` frames (contract): validated into typed ops at the edge."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError


class _Op(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Subscribe(_Op):
    op: Literal["subscribe"]
    topic: str = Field(min_length=1, max_length=1024)


class Unsubscribe(_Op):
    op: Literal["unsubscribe"]
    topic: str = Field(min_length=1, max_length=1024)


class Publish(_Op):
    op: Literal["publish"]
    topic: str = Field(min_length=1, max_length=1024)
    payload: Any = None
    retain: bool = False
    qos: Literal[0, 1] = 1


ClientOp = Subscribe | Unsubscribe | Publish
_client_op: TypeAdapter[ClientOp] = TypeAdapter(ClientOp)


class FrameError(ValueError):
    pass


def parse_client_frame(text: str) -> ClientOp:
    try:
        return _client_op.validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise FrameError(f"invalid frame: {where}: {first['msg']}") from exc


def payload_for_browser(raw: bytes) -> Any:
    """JSON payloads go to the browser as JSON values; anything else as text."""
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return raw.decode("utf-8", errors="replace")


def payload_from_browser(payload: Any) -> bytes:
    """A string is sent as-is (so `20.5` or `constant` stay plain text); other values as JSON."""
    if payload is None:
        return b""
    if isinstance(payload, str):
        return payload.encode()
    return json.dumps(payload, separators=(",", ":")).encode()


def message_frame(topic: str, payload: bytes, retained: bool) -> dict[str, Any]:
    return {
        "op": "message",
        "topic": topic,
        "payload": payload_for_browser(payload),
        "retained": retained,
    }


def error_frame(error: str, **detail: Any) -> dict[str, Any]:
    return {"op": "error", "error": error, **detail}
