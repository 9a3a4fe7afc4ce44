"""MQTT ⇄ browser WebSocket at `/ws`: mounted by the API, or run alone."""

from services.bridge.socket import setup_bridge

__all__ = ["setup_bridge"]
