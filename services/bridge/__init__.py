"""MQTT ⇄ browser WebSocket at `/ws`: mounted by the API, or run alone."""

from services.bridge.settings import BridgeSettings
from services.bridge.socket import HUB, setup_bridge

__all__ = ["HUB", "BridgeSettings", "setup_bridge"]
