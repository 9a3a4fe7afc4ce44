"""A real Mosquitto on a free port in a temp dir, restartable on the same port."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.support.ports import free_port, wait_for_port


def mosquitto_binary() -> str:
    found = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(found).exists():
        raise RuntimeError("mosquitto is not installed; run `make setup`")
    return found


def mosquitto_client(name: str) -> str:
    found = shutil.which(name)
    if not found:
        raise RuntimeError(f"{name} is not installed; run `make setup`")
    return found


class Broker:
    def __init__(
        self, workdir: Path, port: int | None = None, websocket_port: int | None = None
    ) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.websocket_port = websocket_port
        self.proc: subprocess.Popen[bytes] | None = None
        self.conf = workdir / "mosquitto.conf"
        lines = [
            "per_listener_settings false",
            f"listener {self.port} 127.0.0.1",
            "allow_anonymous true",
            "set_tcp_nodelay true",
            "persistence true",
            f"persistence_location {workdir}/",
            "max_queued_messages 5000",
            "log_dest stderr",
            "log_type error",
        ]
        if websocket_port:
            lines += [f"listener {websocket_port} 127.0.0.1", "protocol websockets"]
        self.conf.write_text("\n".join(lines) + "\n")

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        # `-c` with no `user` line: as root, mosquitto would switch to the mosquitto user.
        conf = self.conf.read_text()
        if "user " not in conf:
            self.conf.write_text(conf + "user root\n")
        self.proc = subprocess.Popen(
            [mosquitto_binary(), "-c", str(self.conf)], stderr=subprocess.PIPE
        )
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()
