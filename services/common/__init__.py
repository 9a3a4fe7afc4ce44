"""Code every Maelstrom service shares: configuration, MQTT, topics, clock, logging."""
