"""`/api/devices`: the io configuration — boards and their sensors, actuators and inputs."""

from __future__ import annotations

from aiohttp import web

from services.api.routes.collection import collection_routes
from services.common.schema.config import Device

routes = web.RouteTableDef()
collection_routes("devices", Device, routes)
