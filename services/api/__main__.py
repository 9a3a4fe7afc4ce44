"""`python -m services.api`: the REST API, the web UI and the browser socket on :8888."""

from __future__ import annotations

from services.api.app import create_app
from services.api.serve import run
from services.common.config import Config
from services.common.logs import setup_logging


def main() -> None:
    config = Config.from_env()
    setup_logging(config.log_level)
    run(
        create_app(config),
        config.http_host,
        config.http_port,
        ready=lambda text: print(text, flush=True),
        shutdown_timeout=5,
    )


if __name__ == "__main__":
    main()
