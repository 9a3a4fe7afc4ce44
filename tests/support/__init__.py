"""Test harness: real Mosquitto, real subprocesses, event waits with timeouts."""
