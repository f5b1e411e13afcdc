"""Throughput of the submit, poll and cached-read paths against baselines, in one run.

    make bench            (or: uv run python bench/run.py [--seconds 10] [--connections 16])

It creates a scratch PostgreSQL database, uses Redis database 12 as broker and cache, starts
each app under the same gunicorn settings (gunicorn.conf.py), loads it with wrk (installed with
apt-get if missing) and prints requests per second and the ratio to the matching baseline.
The blog list is measured with the response cache on and off (RESPONSE_CACHE_SECONDS=0).
Machines here are shared and noisy: compare ratios, not absolute figures.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import redis

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
PG_ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
BIN = Path(sys.executable).parent
ORIGINAL_CACHED_BLOG_RPS = 530  # the FastAPI backend's cached blog list, same machine kind


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ensure_wrk() -> str:
    wrk = shutil.which("wrk")
    if wrk is None:
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True)
        wrk = shutil.which("wrk")
    assert wrk, "wrk is needed (apt-get install wrk)"
    return wrk


@contextmanager
def scratch_database() -> Iterator[str]:
    name = f"bb_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def served(app: str, env: dict[str, str]) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", app],
        cwd=ROOT,
        env={**os.environ, **env, "PORT": str(port), "HOST": "127.0.0.1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{base}/health/live", timeout=1)
                break
            except urllib.error.HTTPError:
                break  # the baseline has no health route: it answers, so it is up
            except OSError:
                time.sleep(0.3)
        yield base
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)


def load(wrk: str, url: str, seconds: int, connections: int, script: str | None = None) -> dict:
    command = [wrk, "-t2", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if script:
        command += ["-s", str(BENCH / script)]
    subprocess.run([*command[:3], "-d2s", *command[4:], url], capture_output=True)  # warm up
    output = subprocess.run([*command, url], capture_output=True, text=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    p99 = re.search(r"99%\s+(\S+)", output)
    return {
        "rps": rate,
        "non_2xx": int(errors.group(1)) if errors else 0,
        "p99": p99.group(1) if p99 else "?",
    }


def seed_posts(env: dict[str, str], count: int = 60) -> None:
    """Published posts with tags, written through the service as users would."""
    sys.path.insert(0, str(ROOT))
    from api import create_app
    from api.blog import service as blog
    from api.extensions import db
    from api.security import Caller
    from api.users.models import User

    app = create_app(env)
    with app.app_context():
        user = User(email="bench@example.com", username="bench", is_verified=True)
        db.session.add(user)
        db.session.commit()
        caller = Caller(user_id=user.id, role="user", address="bench", user=user)
        body = "Rice terraces, temples and beaches. " * 120
        for number in range(count):
            blog.create(
                caller,
                {
                    "title": f"Bali story {number}",
                    "content": body,
                    "tags": ["bali", f"tag{number % 5}"],
                    "status": "published",
                },
            )
        db.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--app-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra setting for the BaliBlissed app (repeatable), e.g. RATELIMIT_ENABLED=false",
    )
    args = parser.parse_args()
    wrk = ensure_wrk()
    redis.Redis.from_url(REDIS_URL).flushdb()

    with scratch_database() as database_url:
        subprocess.run(
            [str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"],
            cwd=ROOT,
            check=True,
            capture_output=True,
            env={**os.environ, "DATABASE_URL": database_url, "REDIS_URL": REDIS_URL},
        )
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("CREATE TABLE bench_jobs (id uuid PRIMARY KEY, payload jsonb NOT NULL)")

        results: dict[str, dict] = {}
        baseline_env = {
            "BENCH_DATABASE_URL": database_url.replace("postgresql://", "postgresql+psycopg://"),
            "BENCH_BROKER_URL": REDIS_URL,
            "PYTHONPATH": str(BENCH),
        }
        with served("baseline_app:app", baseline_env) as base:
            results["bare hello"] = load(wrk, f"{base}/hello", args.seconds, args.connections)
            results["bare INSERT + enqueue"] = load(
                wrk, f"{base}/submit", args.seconds, args.connections, "submit.lua"
            )
            job_id = json.load(
                urllib.request.urlopen(
                    urllib.request.Request(f"{base}/submit", data=b"{}", method="POST")
                )
            )["id"]
            results["bare SELECT by id"] = load(
                wrk, f"{base}/poll/{job_id}", args.seconds, args.connections
            )

        app_env = {
            "APP_ENV": "production",
            "SECRET_KEY": "bench-" + "x" * 40,
            "METRICS_TOKEN": "bench-metrics-token",
            "DATABASE_URL": database_url,
            "REDIS_URL": REDIS_URL,
            "LOG_LEVEL": "WARNING",
            # Limits stay on (their Redis round trip is part of the cost) but never trip.
            "RATELIMIT_DEFAULT": "10000000 per hour",
            "RATELIMIT_INQUIRY": "10000000 per hour",
            "RATELIMIT_JOB_POLL": "10000000 per hour",
            "RATELIMIT_PUBLIC_READ": "10000000 per hour",
            **dict(setting.split("=", 1) for setting in args.app_env),
        }
        seed_posts(app_env)
        for label, seconds in (
            ("GET /api/v1/posts (cached)", "300"),
            ("GET /api/v1/posts (uncached)", "0"),
        ):
            with served("wsgi:app", {**app_env, "RESPONSE_CACHE_SECONDS": seconds}) as base:
                results[label] = load(wrk, f"{base}/api/v1/posts", args.seconds, args.connections)
        with served("wsgi:app", app_env) as base:
            results["POST /api/v1/inquiries"] = load(
                wrk, f"{base}/api/v1/inquiries", args.seconds, args.connections, "submit.lua"
            )
            request = urllib.request.Request(
                f"{base}/api/v1/inquiries",
                data=(BENCH / "submit.lua")
                .read_text()
                .split("wrk.body = '")[1]
                .split("'")[0]
                .encode(),
                headers={"Content-Type": "application/json"},
            )
            job_id = json.load(urllib.request.urlopen(request))["id"]
            results["GET /api/v1/jobs/{id}"] = load(
                wrk, f"{base}/api/v1/jobs/{job_id}", args.seconds, args.connections
            )
    redis.Redis.from_url(REDIS_URL).flushdb()

    baseline_of = {
        "POST /api/v1/inquiries": "bare INSERT + enqueue",
        "GET /api/v1/jobs/{id}": "bare SELECT by id",
        "GET /api/v1/posts (cached)": "GET /api/v1/posts (uncached)",
    }
    print(f"\n{'path':30} {'req/s':>9} {'p99':>9} {'non-2xx':>8}  ratio")
    for name, result in results.items():
        ratio = ""
        if name in baseline_of:
            baseline = baseline_of[name]
            ratio = f"{result['rps'] / results[baseline]['rps']:.2f} of {baseline}"
            if name.startswith("GET /api/v1/jobs"):
                ratio += f"; {result['rps'] / results['bare hello']['rps']:.2f} of bare hello"
            if name.endswith("(cached)"):
                ratio += f"; {result['rps'] / ORIGINAL_CACHED_BLOG_RPS:.1f}x the original's 530"
        print(f"{name:30} {result['rps']:9.0f} {result['p99']:>9} {result['non_2xx']:8}  {ratio}")


if __name__ == "__main__":
    main()
