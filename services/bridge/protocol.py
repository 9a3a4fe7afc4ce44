"""The `/ws` frames (contract): client ops validated at the edge, server frames as JSON text.

Client → server: `subscribe`, `unsubscribe`, `publish`.
Server → client: `message`, `batch`, `error`, and the additions documented in
docs/websocket.md: `status`, `subscribed`, `unsubscribed`.

Server frames are built as text once and shared: one MQTT message fanned out to
five hundred browsers is serialized once, not five hundred times.
"""

from __future__ import annotations

import functools
import json
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from services.common import jsontext
from services.common.problems import first_problem


class _Op(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Subscribe(_Op):
    op: Literal["subscribe"]
    topic: str = Field(min_length=1, max_length=65535)


class Unsubscribe(_Op):
    op: Literal["unsubscribe"]
    topic: str = Field(min_length=1, max_length=65535)


class Publish(_Op):
    op: Literal["publish"]
    topic: str = Field(min_length=1, max_length=65535)
    payload: Any = None
    retain: bool = Field(default=False, strict=True)
    qos: Literal[0, 1] = 1


ClientOp = Annotated[Subscribe | Unsubscribe | Publish, Field(discriminator="op")]
_client_op: TypeAdapter[ClientOp] = TypeAdapter(ClientOp)
CLIENT_OPS = ("subscribe", "unsubscribe", "publish")


class FrameError(ValueError):
    """A frame from a browser that is not a valid op; the message says why, in words."""


def parse_client_frame(text: str) -> Subscribe | Unsubscribe | Publish:
    try:
        return _client_op.validate_json(text)
    except ValidationError as exc:
        raise FrameError(_describe(exc)) from exc


def _describe(exc: ValidationError) -> str:
    first = exc.errors()[0]
    kind = first["type"]
    if kind == "json_invalid":
        return "frame is not valid JSON"
    if kind in ("model_attributes_type", "model_type", "dict_type"):
        return 'frame must be a JSON object like {"op": "subscribe", "topic": "maelstrom/data/#"}'
    if kind == "union_tag_not_found":
        return f'frame has no "op"; expected one of {", ".join(CLIENT_OPS)}'
    if kind == "union_tag_invalid":
        tag = first.get("ctx", {}).get("tag")
        return f"unknown op {tag!r}; expected one of {', '.join(CLIENT_OPS)}"
    where = ".".join(str(p) for p in first["loc"][1:]) or "frame"
    if kind == "extra_forbidden":
        return f"unexpected field {where!r}"
    return first_problem(exc, whole="frame", skip=1)


# payloads ------------------------------------------------------------------------------
def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON a browser can parse")


def payload_json(raw: bytes) -> str:
    """An MQTT payload as the JSON text of the frame's `payload`.

    A payload that is JSON (`20.5`, `{"pv": 19.8}`, `"text"`) goes as that JSON
    value, verbatim; anything else (`constant`, `online`, binary) as a string.

    orjson checks the common case (JSON, valid UTF-8) several times faster than
    the standard library; what it refuses is looked at again by the standard
    library, which decides as before (orjson also refuses integers beyond 64
    bits and lone surrogates, which `json` takes).
    """
    try:
        orjson.loads(raw)
        return raw.decode("utf-8").strip()
    except orjson.JSONDecodeError:
        pass
    try:
        text = raw.decode("utf-8")
        jsontext.loads(text, parse_constant=_reject_constant)
    except ValueError:  # includes UnicodeDecodeError and JSONDecodeError
        return orjson.dumps(raw.decode("utf-8", errors="replace")).decode()
    return text.strip()


def payload_for_browser(raw: bytes) -> Any:
    """The `payload` value a browser sees for an MQTT payload."""
    return json.loads(payload_json(raw))


def payload_from_browser(payload: Any) -> bytes:
    """A string is sent as-is (so `20.5` or `constant` stay plain text); other values as JSON."""
    if payload is None:
        return b""
    if isinstance(payload, str):
        return payload.encode()
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


# server frames -------------------------------------------------------------------------
def message_text(topic: str, payload: str, retained: bool) -> str:
    """A `message` frame; `payload` is JSON text from `payload_json`."""
    return (
        f'{{"op":"message","topic":{_quoted(topic)},'
        f'"payload":{payload},"retained":{"true" if retained else "false"}}}'
    )


@functools.lru_cache(maxsize=4096)
def _quoted(topic: str) -> str:
    """A topic as a JSON string (a bridge sees the same few topics again and again)."""
    return orjson.dumps(topic).decode()


def batch_data(messages: list[bytes]) -> bytes:
    """Several encoded `message` frames in one encoded `batch` frame."""
    return b'{"op":"batch","messages":[' + b",".join(messages) + b"]}"


def _frame(**fields: Any) -> str:
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":"))


def error_text(code: str, error: str, **detail: Any) -> str:
    """`{"op":"error","code":…,"error":…}`: `error` says what went wrong in words."""
    return _frame(op="error", code=code, error=error, **detail)


def status_text(broker_online: bool, **detail: Any) -> str:
    return _frame(op="status", broker="online" if broker_online else "offline", **detail)


def subscribed_text(topic_filter: str) -> str:
    return _frame(op="subscribed", topic=topic_filter)


def unsubscribed_text(topic_filter: str) -> str:
    return _frame(op="unsubscribed", topic=topic_filter)
