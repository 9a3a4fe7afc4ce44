"""Configuration from the environment, with the design's defaults.

Every service reads the same variables (see docs/configuration.md), so one
process or a dozen on different hosts agree on where the broker and database are.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote, urlparse

from .topics import TopicError, check_filter


class ConfigError(ValueError):
    """An environment variable holds something we cannot use."""


@dataclass(frozen=True)
class MqttSettings:
    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = field(default=None, repr=False)  # never in a log line
    tls: bool = False

    @classmethod
    def from_url(cls, url: str) -> MqttSettings:
        parsed = urlparse(url)
        if parsed.scheme not in ("mqtt", "mqtts", "tcp"):
            raise ConfigError(
                f"MAELSTROM_MQTT_URL must start with mqtt:// or mqtts://, got {url!r}"
            )
        if not parsed.hostname:
            raise ConfigError(f"MAELSTROM_MQTT_URL has no host: {url!r}")
        tls = parsed.scheme == "mqtts"
        try:
            port = parsed.port or (8883 if tls else 1883)
        except ValueError as exc:
            raise ConfigError(f"MAELSTROM_MQTT_URL has a bad port: {url!r}") from exc
        return cls(
            host=parsed.hostname,
            port=port,
            username=unquote(parsed.username) if parsed.username else None,
            password=unquote(parsed.password) if parsed.password else None,
            tls=tls,
        )

    @property
    def url(self) -> str:
        """The broker address without credentials, safe to log."""
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


@dataclass(frozen=True)
class Config:
    mqtt: MqttSettings = field(default_factory=MqttSettings)
    bridge_mqtt: MqttSettings | None = None
    """`MAELSTROM_BRIDGE_MQTT_URL`: the broker login of the browser bridge mounted in the API
    (its own user, narrower than the API's); None = the API's own (`MAELSTROM_MQTT_URL`)."""
    bridge_mqtt_driver: str = "loop"
    """`MAELSTROM_BRIDGE_MQTT_DRIVER`: what reads the bridge's MQTT socket — `loop` (the event
    loop, services/common/paho_loop.py) or `thread` (paho's network thread)."""
    config_key: bytes | None = field(default=None, repr=False)
    """`MAELSTROM_CONFIG_KEY`: the secret the API signs configuration with and the controller
    checks it against (services/common/signing.py); None = configuration is not signed."""
    http_host: str = "0.0.0.0"
    http_port: int = 8888
    database_url: str = "sqlite:///data/maelstrom.db"
    topic_prefix: str = "maelstrom"
    api_token: str | None = None
    controller_id: str | None = None
    controller_state: str = "data/controller-state.json"
    """Where the controller keeps its configuration and targets (`MAELSTROM_CONTROLLER_STATE`)."""
    homeassistant_prefix: str = "homeassistant"
    log_level: str = "INFO"
    demo: bool = False
    ws_publish_acl: tuple[str, ...] | None = None
    """Filters browsers may publish to over `/ws`; None = the default (see services/bridge)."""
    public_url: str | None = None
    """Where brewers reach the web UI (`MAELSTROM_PUBLIC_URL`; default http://<hostname>:<port>):
    links in notifications (a `public_url` setting wins) and Home Assistant's device links."""
    auth: bool = True
    """`MAELSTROM_AUTH=off` turns users and tokens off (a closed lab network only)."""
    allowed_hosts: tuple[str, ...] = ()
    """`MAELSTROM_ALLOWED_HOSTS`: Host names served besides loopback and this machine's own."""
    allowed_origins: tuple[str, ...] = ()
    """`MAELSTROM_ALLOWED_ORIGINS`: browser origins (a reverse proxy's) besides the server's own."""
    cookie_secure: bool = False
    """`MAELSTROM_COOKIE_SECURE=1` behind an HTTPS reverse proxy: session cookies only over TLS."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        env = os.environ if env is None else env

        def get(name: str, default: str) -> str:
            value = env.get(name, "").strip()
            return value or default

        port_text = get("MAELSTROM_HTTP_PORT", "8888")
        try:
            http_port = int(port_text)
        except ValueError as exc:
            raise ConfigError(f"MAELSTROM_HTTP_PORT must be a number, got {port_text!r}") from exc
        prefix = get("MAELSTROM_TOPIC_PREFIX", "maelstrom").strip("/")
        if any(c in prefix for c in "+#"):
            raise ConfigError(f"MAELSTROM_TOPIC_PREFIX may not contain + or #: {prefix!r}")
        return cls(
            mqtt=MqttSettings.from_url(get("MAELSTROM_MQTT_URL", "mqtt://127.0.0.1:1883")),
            bridge_mqtt=(
                MqttSettings.from_url(env["MAELSTROM_BRIDGE_MQTT_URL"].strip())
                if env.get("MAELSTROM_BRIDGE_MQTT_URL", "").strip()
                else None
            ),
            bridge_mqtt_driver=parse_mqtt_driver(env.get("MAELSTROM_BRIDGE_MQTT_DRIVER", "")),
            config_key=parse_config_key(env.get("MAELSTROM_CONFIG_KEY", "")),
            http_host=get("MAELSTROM_HTTP_HOST", "0.0.0.0"),
            http_port=http_port,
            database_url=get("MAELSTROM_DATABASE_URL", "sqlite:///data/maelstrom.db"),
            topic_prefix=prefix,
            api_token=env.get("MAELSTROM_API_TOKEN") or None,
            controller_id=env.get("MAELSTROM_CONTROLLER_ID") or None,
            controller_state=get("MAELSTROM_CONTROLLER_STATE", "data/controller-state.json"),
            homeassistant_prefix=get("MAELSTROM_HA_PREFIX", "homeassistant").strip("/"),
            log_level=get("MAELSTROM_LOG_LEVEL", "INFO").upper(),
            demo=get("MAELSTROM_DEMO", "0").lower() in ("1", "true", "yes", "on"),
            ws_publish_acl=parse_publish_acl(env.get("MAELSTROM_WS_PUBLISH_ACL", "")),
            public_url=get("MAELSTROM_PUBLIC_URL", f"http://{socket.gethostname()}:{http_port}")
            .strip()
            .rstrip("/"),
            auth=parse_auth(env.get("MAELSTROM_AUTH", "")),
            allowed_hosts=_words(env.get("MAELSTROM_ALLOWED_HOSTS", "")),
            allowed_origins=tuple(
                o.rstrip("/").lower() for o in _words(env.get("MAELSTROM_ALLOWED_ORIGINS", ""))
            ),
            cookie_secure=get("MAELSTROM_COOKIE_SECURE", "0").lower() in ("1", "true", "yes", "on"),
        )


def _words(text: str) -> tuple[str, ...]:
    return tuple(w for w in text.replace(",", " ").split() if w)


MQTT_DRIVERS = ("loop", "thread")


def parse_mqtt_driver(text: str) -> str:
    """`MAELSTROM_BRIDGE_MQTT_DRIVER`: loop or thread (empty: the default)."""
    value = text.strip().lower() or Config.bridge_mqtt_driver
    if value not in MQTT_DRIVERS:
        raise ConfigError(f"MAELSTROM_BRIDGE_MQTT_DRIVER must be loop or thread, got {text!r}")
    return value


def parse_config_key(text: str) -> bytes | None:
    """`MAELSTROM_CONFIG_KEY`: at least 32 characters (scripts/broker_auth.py makes one)."""
    text = text.strip()
    if not text:
        return None
    if len(text) < 32:
        raise ConfigError("MAELSTROM_CONFIG_KEY must be at least 32 characters long")
    return text.encode()


def parse_auth(text: str) -> bool:
    """`MAELSTROM_AUTH`: on (the default) or off."""
    value = text.strip().lower() or "on"
    if value in ("on", "1", "true", "yes"):
        return True
    if value in ("off", "0", "false", "no"):
        return False
    raise ConfigError(f"MAELSTROM_AUTH must be on or off, got {text!r}")


def parse_publish_acl(text: str) -> tuple[str, ...] | None:
    """`MAELSTROM_WS_PUBLISH_ACL`: filters separated by commas or spaces; `none` allows nothing.

    Empty or unset means the default, which depends on the topic prefix.
    """
    text = text.strip()
    if not text:
        return None
    if text.lower() == "none":
        return ()
    filters = tuple(f for f in text.replace(",", " ").split() if f)
    for topic_filter in filters:
        try:
            check_filter(topic_filter)
        except TopicError as exc:
            raise ConfigError(f"MAELSTROM_WS_PUBLISH_ACL: {exc}") from exc
    return filters
