"""The HTTP API: configuration (the source of truth), history and health.

It also serves the web UI and mounts the bridge at `/ws`.
"""
