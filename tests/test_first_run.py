"""The README's quick start as a new user meets it: a fresh clone of the committed tree, the
system Python (PEP 668: no pip into it), `PATH=/usr/local/bin:/usr/bin:/bin`, an empty HOME and
no uv, then `make run`. Once on the embedded defaults, once on PostgreSQL and Redis.

The clone is of HEAD: uncommitted changes are not part of what a new user gets, nor of this test.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import redis
from PIL import Image

from tests.conftest import PROJECT_ROOT, REDIS_HOST_URL, free_port, fresh_database, wait_until
from tests.test_inquiries import VALID
from tests.test_itineraries import REQUEST as TRIP

SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"
FIRST_START_SECONDS = 300  # uv and every locked package are downloaded into the empty HOME
REDIS_DB_FIRST_RUN = 12
STOP_SECONDS = 60  # above gunicorn's graceful_timeout (35 s), for a loaded machine

pytestmark = [
    pytest.mark.skipif(
        not (shutil.which("make", path=SYSTEM_PATH) and shutil.which("python3", path=SYSTEM_PATH)),
        reason="needs make and python3 on the system PATH",
    ),
    # The suite's 120 s per test is less than a first start may take on a loaded machine.
    pytest.mark.timeout(FIRST_START_SECONDS + 180),
]


def get_json(url: str, timeout: float = 10) -> Any:
    return json.load(urllib.request.urlopen(url, timeout=timeout))


def post_json(url: str, body: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, dict(response.headers), json.load(response)


def live_processes_in(folder: Path) -> dict[int, str]:
    """Process id → command line of the live processes working in `folder` (their cwd)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if Path(os.readlink(entry / "cwd")) != folder:
                continue
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except OSError:  # it ended meanwhile, or is not ours to read
            continue
        if command:
            found[int(entry.name)] = command
    return found


def processes_in(folder: Path) -> list[str]:
    """Command lines of the live processes working in `folder` (their cwd)."""
    return list(live_processes_in(folder).values())


class FirstRun:
    def __init__(self, clone: Path, process: subprocess.Popen[bytes], log: Path, port: int):
        self.clone, self.process, self.log, self.port = clone, process, log, port
        self.base = f"http://127.0.0.1:{port}"

    def up(self) -> bool:
        try:
            return urllib.request.urlopen(f"{self.base}/health/live", timeout=1).status == 200
        except OSError:
            return False

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def make_run(tmp_path: Path, **settings: str) -> Iterator[FirstRun]:
    clone, home = tmp_path / "clone", tmp_path / "home"
    subprocess.run(["git", "clone", "--quiet", str(PROJECT_ROOT), str(clone)], check=True)
    home.mkdir()
    port = free_port()
    log = tmp_path / "make-run.log"
    env = {"PATH": SYSTEM_PATH, "HOME": str(home), "PORT": str(port), **settings}
    with log.open("wb") as output:
        process = subprocess.Popen(
            ["make", "run"],
            cwd=clone,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    run = FirstRun(clone, process, log, port)
    started = time.monotonic()
    try:
        wait_until(
            lambda: run.up() or process.poll() is not None, FIRST_START_SECONDS, "/health", 0.5
        )
        assert process.poll() is None, f"make run stopped:\n{run.output()[-3000:]}"
        print(f"clone to /health: {time.monotonic() - started:.1f} s")
        yield run
        # A clean stop, as Ctrl-C in the terminal: every process of the system ends.
        os.killpg(process.pid, signal.SIGINT)
        stopping = time.monotonic()
        try:
            process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"make run still running {STOP_SECONDS} s after Ctrl-C:\n{run.output()[-3000:]}"
            ) from None
        print(f"Ctrl-C to stopped: {time.monotonic() - stopping:.1f} s")
        wait_until(lambda: not processes_in(clone), 20, "every process of make run to end", 0.5)
        assert not re.search(r"^make run: .* stopped \(", run.output(), re.MULTILINE)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        for pid in live_processes_in(clone):  # never leave a system running after a failure
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def submit_inquiry_and_see_its_emails(run: FirstRun) -> None:
    status, headers, _job = post_json(f"{run.base}/api/v1/inquiries", VALID)
    assert status == 202
    job = get_json(f"{run.base}{headers['Location']}?wait=20", timeout=30)
    assert job["status"] == "succeeded", job
    emails = sorted(path.name for path in (run.clone / "var" / "outbox").glob("*.eml"))
    assert emails == [
        f"{job['id']}.company_baliblissed.com.eml",
        f"{job['id']}.confirmation_baliblissed.com.eml",
    ]


def upload_an_image_and_see_it_processed(run: FirstRun) -> None:
    """Media jobs have a worker of their own (the Procfile's worker-media): make run starts it."""
    account = {
        "email": "wayan@example.com",
        "username": "wayan",
        "password": "Rice-Field-Sunrise-9",
    }
    status, _headers, _user = post_json(f"{run.base}/api/v1/auth/register", account)
    assert status == 201
    _status, _headers, tokens = post_json(
        f"{run.base}/api/v1/auth/login", {"login": "wayan", "password": account["password"]}
    )
    image = io.BytesIO()
    Image.new("RGB", (640, 480), (30, 120, 200)).save(image, "PNG")
    boundary = "bb-first-run"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + image.getvalue()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    auth = {"Authorization": f"Bearer {tokens['access_token']}"}
    request = urllib.request.Request(
        f"{run.base}/api/v1/media",
        data=body,
        headers={**auth, "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 202
        location = response.headers["Location"]
    poll = urllib.request.Request(f"{run.base}{location}?wait=25", headers=auth)
    job = json.load(urllib.request.urlopen(poll, timeout=35))
    assert job["status"] == "succeeded", job


def test_make_run_on_a_fresh_machine_serves_inquiries_and_itineraries(tmp_path):
    with make_run(tmp_path) as run:
        submit_inquiry_and_see_its_emails(run)
        upload_an_image_and_see_it_processed(run)
        _status, _headers, trip_job = post_json(f"{run.base}/api/v1/itineraries", TRIP)
        done = get_json(f"{run.base}/api/v1/jobs/{trip_job['id']}?wait=25", timeout=35)
        assert done["status"] == "succeeded", done
        itinerary = get_json(f"{run.base}{done['links']['result']}")
        assert len(itinerary["days"]) == TRIP["duration_days"]
        metrics = urllib.request.urlopen(f"{run.base}/metrics", timeout=10).read().decode()
        # gunicorn's processes share their request counters (multiprocess mode).
        assert (
            'baliblissed_http_requests_total{method="POST",route="/api/v1/inquiries",'
            'status="202"} 1.0'
        ) in metrics


def test_make_run_on_postgresql_and_redis_stays_up(tmp_path):
    redis_url = f"{REDIS_HOST_URL}/{REDIS_DB_FIRST_RUN}"
    redis.Redis.from_url(redis_url).flushdb()
    try:
        with (
            fresh_database("bb_first_run") as database_url,
            make_run(
                tmp_path,
                DATABASE_URL=database_url,
                REDIS_URL=redis_url,
                JOB_SWEEP_INTERVAL_SECONDS="5",
            ) as run,
        ):
            submit_inquiry_and_see_its_emails(run)
            assert get_json(f"{run.base}/api/v1/destinations")["meta"]["total"] == 48  # seeded
            time.sleep(20)  # the check: all three processes are still there 20 s on
            assert run.process.poll() is None, run.output()[-3000:]
            commands = " | ".join(processes_in(run.clone))
            for process in ("gunicorn", "worker -X media", "worker -Q media", "celery_app beat"):
                assert process in commands, commands
            health = get_json(f"{run.base}/health")
            assert {name: check["status"] for name, check in health["checks"].items()} == {
                "database": "ok",
                "redis": "ok",
                "broker": "ok",
                "workers": "ok",
            }
            # beat scheduled the sweeper on PostgreSQL and a worker ran it.
            assert "Task maintenance.sweep_jobs[" in run.output()
    finally:
        redis.Redis.from_url(redis_url).flushdb()
