"""Maelstrom services: one package per process, plus `common` shared by all."""
