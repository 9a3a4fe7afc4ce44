"""`python -m services.api`: the REST API, the web UI and the browser socket on :8888."""

from __future__ import annotations

from aiohttp import web

from services.api.app import create_app
from services.common.config import Config
from services.common.logs import setup_logging


def main() -> None:
    config = Config.from_env()
    setup_logging(config.log_level)
    web.run_app(
        create_app(config),
        host=config.http_host,
        port=config.http_port,
        access_log=None,
        print=lambda text: print(text, flush=True),
        shutdown_timeout=5,
    )


if __name__ == "__main__":
    main()
