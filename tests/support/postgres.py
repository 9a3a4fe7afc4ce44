"""A PostgreSQL server for the tests that prove the brewery setup works.

`MAELSTROM_TEST_POSTGRES_URL` when set; otherwise, when PostgreSQL's server
binaries are installed, a throwaway cluster on a free port in a temp dir;
otherwise the test is skipped, saying why.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.ports import free_port


def _pg_bin(name: str) -> str | None:
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return shutil.which(name) or (candidates[-1] if candidates else None)


def _as_postgres(cmd: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root; CI and dev machines here run as root.
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@contextmanager
def postgres_server() -> Iterator[str]:
    """Yield a URL to an empty-enough PostgreSQL database, or skip the test."""
    pytest.importorskip("psycopg2", reason="psycopg2 is not installed (pip install '.[postgres]')")
    url = os.environ.get("MAELSTROM_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not (initdb and pg_ctl):
        pytest.skip(
            "no PostgreSQL reachable: set MAELSTROM_TEST_POSTGRES_URL or install postgresql"
        )
    if os.geteuid() == 0 and not shutil.which("runuser"):
        pytest.skip("no PostgreSQL reachable: running as root without runuser")
    workdir = Path(tempfile.mkdtemp(prefix="maelstrom-pg-"))
    if os.geteuid() == 0:
        shutil.chown(workdir, "postgres")
    data, port = workdir / "data", free_port()
    options = f"-p {port} -k {workdir} -c listen_addresses=127.0.0.1 -c fsync=off"
    try:
        subprocess.run(
            _as_postgres([initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"]),
            check=True,
            capture_output=True,
            timeout=120,
        )
        subprocess.run(
            _as_postgres(
                [pg_ctl, "-D", str(data), "-w", "-o", options, "-l", str(workdir / "log"), "start"]
            ),
            check=True,
            capture_output=True,
            timeout=60,
        )
    except (subprocess.SubprocessError, OSError) as exc:
        shutil.rmtree(workdir, ignore_errors=True)
        pytest.skip(f"no PostgreSQL reachable: could not start a throwaway server ({exc})")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            _as_postgres([pg_ctl, "-D", str(data), "-m", "immediate", "stop"]),
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(workdir, ignore_errors=True)
