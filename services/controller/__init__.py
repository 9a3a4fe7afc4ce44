"""The controller: boards (serial, MQTT-native, simulated), control loops, profiles and alarms."""
