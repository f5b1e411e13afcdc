"""The Procfile's web, worker and beat on the embedded defaults (SQLite database and broker):
what `make run` starts. An inquiry goes all the way to the outbox folder."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.conftest import PROJECT_ROOT, free_port
from tests.test_inquiries import VALID
from tests.test_itineraries import REQUEST as TRIP

HONCHO = str(Path(sys.executable).parent / "honcho")
FLASK = str(Path(sys.executable).parent / "flask")


def embedded_env(data_dir: Path) -> dict[str, str]:
    """The process environment minus every setting of ours: only where to keep the files."""
    ours = {"APP_ENV", "DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "EMAIL_PROVIDER"}
    env = {key: value for key, value in os.environ.items() if key not in ours}
    path = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return {**env, "PATH": path, "DATA_DIR": str(data_dir), "WEB_CONCURRENCY": "2"}


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def test_web_worker_and_beat_serve_inquiries_and_itineraries(tmp_path):
    env = embedded_env(tmp_path / "var")
    for command in (["db", "upgrade"], ["catalogue", "seed"]):  # as `make run` does
        subprocess.run(
            [FLASK, "--app", "wsgi", *command],
            cwd=PROJECT_ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
    port = free_port()
    log = (tmp_path / "honcho.log").open("w")
    system = subprocess.Popen(
        [HONCHO, "start", "-p", str(port), "web", "worker", "beat"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:

        def api_up() -> bool:
            try:
                return urllib.request.urlopen(f"{base}/health/live", timeout=1).status == 200
            except OSError:
                return False

        wait_until(api_up, 60, "the API")
        request = urllib.request.Request(
            f"{base}/api/v1/inquiries",
            data=json.dumps(VALID).encode(),
            headers={"Content-Type": "application/json"},
        )
        response = urllib.request.urlopen(request, timeout=10)
        assert response.status == 202
        location = response.headers["Location"]

        outbox = tmp_path / "var" / "outbox"
        wait_until(lambda: len(list(outbox.glob("*.eml"))) == 2, 60, "two emails in the outbox")
        job = json.load(urllib.request.urlopen(f"{base}{location}?wait=10", timeout=15))
        assert job["status"] == "succeeded"
        metrics = urllib.request.urlopen(f"{base}/metrics", timeout=10).read().decode()
        # gunicorn's processes share their request counters (multiprocess mode).
        assert (
            'baliblissed_http_requests_total{method="POST",route="/api/v1/inquiries",'
            'status="202"} 1.0'
        ) in metrics
        trip = urllib.request.Request(
            f"{base}/api/v1/itineraries",
            data=json.dumps(TRIP).encode(),
            headers={"Content-Type": "application/json"},
        )
        trip_job = json.load(urllib.request.urlopen(trip, timeout=10))
        done = json.load(
            urllib.request.urlopen(f"{base}/api/v1/jobs/{trip_job['id']}?wait=20", timeout=30)
        )
        assert done["status"] == "succeeded", done
        itinerary = json.load(urllib.request.urlopen(f"{base}{done['links']['result']}"))
        assert len(itinerary["days"]) == TRIP["duration_days"]
        wait_until(
            lambda: "maintenance.sweep_jobs" in (tmp_path / "honcho.log").read_text(),
            90,
            "beat to schedule the sweeper",
        )
    finally:
        os.killpg(system.pid, signal.SIGTERM)
        system.wait(30)
        log.close()
