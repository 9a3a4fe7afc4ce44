"""Run Maelstrom services as subprocesses, exactly as `make run-all` does."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def service_env(broker_url: str | None = None, **extra: str) -> dict[str, str]:
    """`broker_url` may come in `extra` as `MAELSTROM_MQTT_URL` (a service's env file)."""
    env = dict(os.environ)
    env.update({"MAELSTROM_MQTT_URL": broker_url or "", "PYTHONUNBUFFERED": "1"})
    # Each controller its own disk state: tests run side by side.
    env["MAELSTROM_CONTROLLER_STATE"] = str(Path(tempfile.mkdtemp()) / "controller-state.json")
    env.update(extra)
    return env


class Service:
    def __init__(self, module: str, env: dict[str, str], log_path: Path) -> None:
        self.module = module
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module],
            cwd=REPO,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")
