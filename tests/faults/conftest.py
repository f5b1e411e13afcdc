"""Fault-suite helpers: workers and beat as subprocesses, and the record each scenario leaves.

Each scenario writes `var/faults/<scenario>.json` (what it ran, lost, duplicated, how long
recovery took); `make faults` runs the suite and prints them as the README's table
(`scripts/faults_table.py`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Mapping
from pathlib import Path

from tests.conftest import (
    PG_ADMIN_URL,
    PROJECT_ROOT,
    WorkerProcess,
    spawn_with_us,
    stop_process_group,
)
from tests.support.tcp_proxy import TcpProxy

FAULTS_DIR = Path(os.environ.get("FAULTS_DIR", PROJECT_ROOT / "var" / "faults"))


def postgres_through_proxy(postgres_url: str) -> tuple[TcpProxy, str]:
    """A TcpProxy in front of the machine's PostgreSQL and the test database's URL through it:
    the API and the workers reach PostgreSQL through the proxy, so a test can cut or hang it."""
    pg_port = int(PG_ADMIN_URL.rsplit(":", 1)[1].split("/")[0])
    proxy = TcpProxy(pg_port).start()
    return proxy, postgres_url.replace(f":{pg_port}/", f":{proxy.port}/")


class DrainedWorker(WorkerProcess):
    """A WorkerProcess whose output is read on a thread once it is ready: a busy worker never
    blocks on a full pipe, and a failing test can show what it said."""

    def __init__(self, env: Mapping[str, str]) -> None:
        super().__init__(env)
        self.lines: list[str] = []
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)


class BeatProcess:
    """celery beat in its own process group: it schedules the sweeper as in production."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.process = spawn_with_us(
            [sys.executable, "-m", "celery", "-A", "celery_app", "beat", "-l", "WARNING"],
            cwd=PROJECT_ROOT,
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def stop(self) -> None:
        stop_process_group(self.process, grace=10)


def record(
    scenario: str,
    *,
    ran: str,
    lost: int,
    duplicated: int,
    recovery_seconds: float | None,
    notes: str = "",
) -> None:
    """Leave the scenario's outcome for the table (`make faults`)."""
    FAULTS_DIR.mkdir(parents=True, exist_ok=True)
    document = {
        "scenario": scenario,
        "ran": ran,
        "lost": lost,
        "duplicated": duplicated,
        "recovery_seconds": None if recovery_seconds is None else round(recovery_seconds, 1),
        "notes": notes,
    }
    slug = "".join(c if c.isalnum() else "-" for c in scenario.lower())
    (FAULTS_DIR / f"{slug}.json").write_text(json.dumps(document, indent=2) + "\n")
