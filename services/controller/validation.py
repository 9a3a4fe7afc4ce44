"""One readable sentence from a validation error, for the logs channel."""

from __future__ import annotations

from pydantic import ValidationError


def why(exc: Exception) -> str:
    """`setpoint: Input should be a valid number` rather than pydantic's full report."""
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first.get("loc", ())) or "payload"
        return f"{where}: {first['msg']}"
    return str(exc)
