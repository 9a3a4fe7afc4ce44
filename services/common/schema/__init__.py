"""Typed payloads shared by every service: what travels on each topic and REST resource.

Validated at the edges (HTTP bodies, MQTT payloads) into these models; the core
of each service works on them only. One definition each, used everywhere.
"""
