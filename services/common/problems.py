"""pydantic's validation errors in words: the one formatter every service uses.

`problems(exc)` is the list an HTTP 422 carries in `detail`
(`[{"field": "points.0.temperature", "message": "..."}]`); `first_problem(exc)`
is one sentence for a log line, the logs channel or a browser's error frame
(`"setpoint: Input should be a valid number"`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import ValidationError

Location = tuple[int | str, ...]


def _message(err: Mapping[str, Any], messages: Mapping[str, str]) -> str:
    # Our own validators raise ValueError; pydantic prefixes their text with "Value error, ".
    return messages.get(err["type"]) or str(err["msg"]).removeprefix("Value error, ")


def _where(loc: Location, prefix: str) -> str:
    return ".".join(p for p in (prefix, ".".join(str(part) for part in loc)) if p)


def problems(
    exc: ValidationError,
    *,
    prefix: str = "",
    whole: str = "body",
    messages: Mapping[str, str] | None = None,
    field: Callable[[Location], str | None] | None = None,
) -> list[dict[str, str]]:
    """Every error as `{"field", "message"}`.

    `prefix` goes before each field; `whole` names an error about the whole input;
    `messages` replaces pydantic's text for an error type (e.g. `extra_forbidden`);
    `field` may name a location its own way (None: the usual dotted path).
    """
    out = []
    for err in exc.errors(include_url=False, include_context=False, include_input=False):
        loc = tuple(err["loc"])
        name = (field(loc) if field else None) or _where(loc, prefix) or whole
        out.append({"field": name, "message": _message(err, messages or {})})
    return out


def first_problem(exc: ValidationError, whole: str = "payload", skip: int = 0) -> str:
    """The first error as one sentence, `where: what`; `skip` drops leading location
    parts (a union's tag, say)."""
    err = exc.errors(include_url=False, include_context=False, include_input=False)[0]
    where = _where(tuple(err["loc"])[skip:], "") or whole
    return f"{where}: {_message(err, {})}"
