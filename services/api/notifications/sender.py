"""Apprise behind one small blocking call: send a title and body to one URL.

Apprise is synchronous (requests, smtplib); the notifier runs `send` in a thread
executor so neither control nor the API's event loop ever waits on a slow SMTP
server. Apprise's own log lines can name hosts and, for some services, parts of
a URL: they are kept out of the root logger (and so out of the logs channel) and
returned, redacted, as the delivery's error instead.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass

import apprise

SEND_TIMEOUT_S = 30.0

# Apprise logs through "apprise"; what matters reaches our delivery log instead.
logging.getLogger(apprise.LOGGER_NAME).propagate = False

_ASSET = apprise.AppriseAsset(
    app_id="Maelstrom",
    app_desc="Maelstrom brewing controller",
    app_url="https://github.com/maelstrom-brewing/maelstrom",
    storage_mode=apprise.PersistentStoreMode.MEMORY,  # no cache files under $HOME
)

_KIND = {
    "failure": apprise.NotifyType.FAILURE,
    "warning": apprise.NotifyType.WARNING,
    "success": apprise.NotifyType.SUCCESS,
    "info": apprise.NotifyType.INFO,
}


class BadUrl(ValueError):
    """A URL Apprise does not understand."""


def check_url(url: str) -> str:
    """The URL if Apprise can send to it; else `BadUrl` saying so (without echoing it)."""
    if apprise.Apprise.instantiate(url.strip(), asset=_ASSET) is None:
        scheme = url.split("://", 1)[0] if "://" in url else ""
        raise BadUrl(
            f"Apprise does not understand this URL (scheme {scheme[:20]!r}); "
            "see https://github.com/caronc/apprise/wiki"
        )
    return url.strip()


def mask_url(url: str) -> str:
    """Apprise's privacy form of a URL: tokens and passwords shortened or starred."""
    plugin = apprise.Apprise.instantiate(url, asset=_ASSET)
    if plugin is None:
        return "(invalid URL)"
    return str(plugin.url(privacy=True))


_SPLIT = re.compile(r"[/:@?&=,#%]+")


def redact(text: str, url: str) -> str:
    """`text` with every secret-looking piece of `url` (absent from its masked form) starred."""
    masked = set(_SPLIT.split(mask_url(url)))
    for piece in sorted(set(_SPLIT.split(url)) - masked, key=len, reverse=True):
        if len(piece) >= 4:
            text = text.replace(piece, "****")
    return text


@dataclass(frozen=True)
class SendResult:
    ok: bool
    error: str | None
    elapsed_s: float


def send(url: str, title: str, body: str, kind: str = "info") -> SendResult:
    """Deliver one message (blocking). Never raises: a failure is a result."""
    started = time.monotonic()
    try:
        ap = apprise.Apprise(asset=_ASSET)
        if not ap.add(url):
            return SendResult(False, "Apprise does not understand this URL", 0.0)
        result = ap.notify(
            body=body,
            title=title,
            notify_type=_KIND.get(kind, apprise.NotifyType.INFO),
            timeout=SEND_TIMEOUT_S,
            log_level=logging.WARNING,
        )
        ok = bool(result)
        error = None
        if not ok:
            lines = [e.message for e in result.logs() if e.level in ("WARNING", "ERROR")]
            error = redact(
                "; ".join(lines)[-500:] or f"delivery failed ({result.status.name})", url
            )
    except Exception as exc:  # a plugin bug must not kill the worker
        ok, error = False, redact(f"{type(exc).__name__}: {exc}"[:500], url)
    return SendResult(ok, error, round(time.monotonic() - started, 3))
