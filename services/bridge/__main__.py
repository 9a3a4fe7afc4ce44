"""`python -m services.bridge`: a standalone bridge (`/ws` only), for scaling out browsers.

Run several on different ports (`MAELSTROM_HTTP_PORT`) against one broker to
spread many browsers over several processes or hosts.
"""

from __future__ import annotations

from aiohttp import web

from services.bridge import BridgeSettings, setup_bridge
from services.common.config import Config
from services.common.logs import setup_logging
from services.common.web import CONFIG, setup_mqtt


def create_app(config: Config, settings: BridgeSettings | None = None) -> web.Application:
    app = web.Application()
    app[CONFIG] = config
    setup_mqtt(app, "bridge")
    setup_bridge(app, settings)
    return app


def main() -> None:
    config = Config.from_env()
    setup_logging(config.log_level)
    web.run_app(create_app(config), host=config.http_host, port=config.http_port, access_log=None)


if __name__ == "__main__":
    main()
