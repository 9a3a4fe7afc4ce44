"""Home Assistant integration by MQTT discovery: thermostats, probes and alarms, both ways."""

from .publisher import HOMEASSISTANT, HomeAssistantDiscovery, setup_homeassistant

__all__ = ["HOMEASSISTANT", "HomeAssistantDiscovery", "setup_homeassistant"]
