"""JSON from outside (MQTT payloads, request bodies, browser frames), parsed without surprises.

`json.loads` raises RecursionError, not ValueError, on deeply nested input
(`[[[[…]]]]` a few thousand levels deep): every caller that drops malformed input
on ValueError would then let it escape as a crash with a traceback. Here it is a
`json.JSONDecodeError` like any other malformed document.
"""

from __future__ import annotations

import json
from typing import Any


def loads(text: str | bytes | bytearray, **kwargs: Any) -> Any:
    """`json.loads`, with nesting too deep to parse reported as a JSONDecodeError."""
    try:
        return json.loads(text, **kwargs)
    except RecursionError:
        doc = text if isinstance(text, str) else ""
        raise json.JSONDecodeError("JSON nested too deeply", doc, 0) from None
