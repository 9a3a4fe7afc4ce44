"""`python -m services.api`: the REST API, the web UI and the browser socket on :8888."""

from __future__ import annotations

import socket
import sys

from services.api.app import create_app
from services.api.serve import run
from services.common.config import Config
from services.common.logs import setup_logging


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound before anything else starts.

    A second instance that cannot have the port must fail before it connects to the
    broker: its birth and last will would otherwise mark the running API `offline`.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host or "0.0.0.0", port))
    except OSError:
        sock.close()
        raise
    sock.listen(128)
    sock.setblocking(False)
    return sock


def main() -> None:
    config = Config.from_env()
    setup_logging(config.log_level)
    try:
        sock = bind(config.http_host, config.http_port)
    except OSError as exc:
        print(f"cannot listen on {config.http_host}:{config.http_port}: {exc}", file=sys.stderr)
        sys.exit(1)
    run(
        create_app(config),
        config.http_host,
        config.http_port,
        ready=lambda text: print(text, flush=True),
        sock=sock,
        shutdown_timeout=5,
    )


if __name__ == "__main__":
    main()
