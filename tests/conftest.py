"""Fixtures: a fresh PostgreSQL database migrated to head, Redis, and real Celery workers.

PostgreSQL and Redis are the real servers on 127.0.0.1 (see `.ci/run`). Every test run gets
its own database; every test starts from empty tables and empty Redis databases.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from celery.contrib.testing.worker import start_worker
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade
from sqlalchemy import text

from api import create_app
from api.auth.tokens import issue_pair
from api.catalogue import service as catalogue
from api.database import unit_of_work
from api.extensions import db
from api.jobs.kinds import QUEUES
from api.users.models import User
from api.users.passwords import hash_password

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


_CHILDREN: list[subprocess.Popen[Any]] = []


def _die_with_parent() -> None:
    """In the child, before exec: be killed when the process that started it dies (Linux),
    however it dies, so no server or worker outlives an interrupted or crashed test process."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def spawn_with_us(args: list[str], **kwargs: Any) -> subprocess.Popen[Any]:
    """Popen for a long-lived helper process: killed with this process (see _die_with_parent)
    and, should it still run when the session ends, there (pytest_unconfigure)."""
    child = subprocess.Popen(args, preexec_fn=_die_with_parent, **kwargs)
    _CHILDREN.append(child)
    return child


def pytest_unconfigure(config: pytest.Config) -> None:
    for child in _CHILDREN:
        if child.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                if os.getpgid(child.pid) == child.pid:  # its own group: the pool's children too
                    os.killpg(child.pid, signal.SIGKILL)
                else:
                    child.kill()


def _private_redis() -> str:
    """A Redis server of this xdist worker's own, stopped when the worker exits.

    Parallel workers must not share one server: Celery's control and fan-out messages and the
    job wake-ups are pub/sub, which ignores database numbers, so separate databases would still
    cross-talk. A worker outside xdist uses TEST_REDIS_URL (or the machine's 6379)."""
    port = free_port()
    spawn_with_us(
        [
            "redis-server",
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--databases",
            "16",
            "--loglevel",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            redis.Redis(port=port, socket_connect_timeout=0.2).ping()
            return f"redis://127.0.0.1:{port}"
        except redis.ConnectionError:
            time.sleep(0.05)
    raise RuntimeError(f"the private redis-server on port {port} did not start")


def wait_until(
    predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.01
) -> None:
    """Poll `predicate` every `interval` until it holds (the signal a test waits for), or fail
    after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@contextmanager
def redis_commands() -> Iterator[list[str]]:
    """The Redis commands sent (by any client of this process) while the block runs."""
    sent: list[str] = []
    execute = redis.Redis.execute_command

    def recorded(self: redis.Redis, *args: Any, **options: Any) -> Any:
        sent.append(str(args[0]).lower())
        return execute(self, *args, **options)

    redis.Redis.execute_command = recorded  # type: ignore[method-assign]
    try:
        yield sent
    finally:
        redis.Redis.execute_command = execute  # type: ignore[method-assign]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


REDIS_HOST_URL = (
    _private_redis()
    if os.environ.get("PYTEST_XDIST_WORKER")
    else os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379")
)
REDIS_PORT = int(REDIS_HOST_URL.rsplit(":", 1)[1].split("/")[0])
REDIS_DB_CACHE, REDIS_DB_BROKER = 13, 14
BUNDLED_SLUGS = [entry["slug"] for entry in catalogue.bundled()]
RABBITMQ_URL = os.environ.get("TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//")


def database_url(name: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


@contextmanager
def fresh_database(prefix: str) -> Iterator[str]:
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield database_url(name)
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A database for this test run, migrated with `upgrade head` (not create_all)."""
    with fresh_database("bb_test") as url:
        app = create_app(
            {"APP_ENV": "testing", "DATABASE_URL": url, "DATA_DIR": "/tmp/bb-test-migrate"}
        )
        with app.app_context():
            upgrade()
            with unit_of_work():
                catalogue.seed()
            db.engine.dispose()
        yield url


@pytest.fixture
def base_env(postgres_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        "APP_ENV": "testing",
        "DATABASE_URL": postgres_url,
        "REDIS_URL": f"{REDIS_HOST_URL}/{REDIS_DB_CACHE}",
        "CELERY_BROKER_URL": f"{REDIS_HOST_URL}/{REDIS_DB_BROKER}",
        "DATA_DIR": str(tmp_path / "var"),
        "EMAIL_OUTBOX_DIR": str(tmp_path / "outbox"),
        "RATELIMIT_ENABLED": "false",
        "JOB_RETRY_BASE_SECONDS": "1",
        "JOB_RETRY_MAX_SECONDS": "2",
        "LOG_LEVEL": "WARNING",
    }


@pytest.fixture
def make_app(base_env: dict[str, str]) -> Iterator[Callable[..., Flask]]:
    """Build an app from the test environment plus overrides; engines are closed afterwards."""
    apps: list[Flask] = []

    def build(**overrides: str) -> Flask:
        app = create_app({**base_env, **overrides})
        apps.append(app)
        return app

    yield build
    for app in apps:
        pending = app.extensions.get("pending_views")
        if pending is not None:  # its views reach Redis before the next test empties it
            pending.close()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture(autouse=True)
def _clean_state(request: pytest.FixtureRequest) -> None:
    """Empty tables and Redis before each test that uses the database."""
    if "postgres_url" in request.fixturenames:
        url = request.getfixturevalue("postgres_url")
        with psycopg.connect(url, autocommit=True) as conn:
            tables = [
                row[0]
                for row in conn.execute(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                    "AND tablename NOT IN ('alembic_version', 'destinations')"
                )
            ]
            if tables:
                conn.execute(f"TRUNCATE {', '.join(tables)} CASCADE")
            # The seeded catalogue stays; what a test added to it or renamed in it goes.
            conn.execute(
                "DELETE FROM destinations WHERE slug <> ALL(%s)",
                (BUNDLED_SLUGS,),
            )
        for number in (REDIS_DB_CACHE, REDIS_DB_BROKER):
            redis.Redis.from_url(f"{REDIS_HOST_URL}/{number}").flushdb()


@contextmanager
def running_worker(app: Flask, queues: tuple[str, ...] = QUEUES) -> Iterator[None]:
    """A real Celery worker (in this process, thread pool) consuming the app's broker."""
    celery = app.extensions["celery"]
    with start_worker(
        celery,
        pool="threads",
        concurrency=2,
        perform_ping_check=False,
        queues=list(queues),
        loglevel="WARNING",
        shutdown_timeout=15,
    ):
        yield


@pytest.fixture
def worker(app: Flask) -> Iterator[None]:
    with running_worker(app):
        yield


class WorkerProcess:
    """A Celery worker in its own process group (prefork pool), so a test can SIGKILL it."""

    def __init__(self, env: Mapping[str, str], queues: tuple[str, ...] = QUEUES) -> None:
        self.process = spawn_with_us(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "celery_app",
                "worker",
                "-Q",
                ",".join(queues),
                "-c",
                "1",
                "--without-gossip",
                "--without-mingle",
                "-l",
                "INFO",
            ],
            cwd=PROJECT_ROOT,
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self._wait_until_ready()

    def _wait_until_ready(self, timeout: float = 90) -> None:
        """Until the worker says it is ready; a worker that does not is killed, never left
        running to take a later test's jobs. (The bound is for a loaded machine.)"""
        deadline = time.monotonic() + timeout
        assert self.process.stdout is not None
        said: list[str] = []
        for line in self.process.stdout:
            if " ready." in line:
                return
            said.append(line)
            if time.monotonic() > deadline:
                break
        self.kill()
        raise RuntimeError("the worker did not start:\n" + "".join(said[-30:]))

    def kill(self) -> None:
        os.killpg(self.process.pid, 9)
        self.process.wait(10)

    def stop(self) -> None:
        stop_process_group(self.process, grace=20)


def stop_process_group(process: subprocess.Popen[Any], grace: float) -> None:
    """SIGTERM to a process started in its own session, SIGKILL if it is not gone in `grace`."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def wait_for_job(
    client: FlaskClient, location: str, timeout: float = 90, **kwargs: Any
) -> dict[str, Any]:
    """Long-poll a job until it is terminal (or fail the test after `timeout` seconds: a
    loaded 2-core machine can take a while)."""
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(f"{location}?wait=20", **kwargs)
        assert response.status_code == 200, response.get_json()
        job = response.get_json()
        if job["status"] in {"succeeded", "failed", "canceled"}:
            return job
        assert time.monotonic() < deadline, job
        if "Retry-After" in response.headers:
            time.sleep(float(response.headers["Retry-After"]))


PASSWORD = "Sunny-Ubud-Rice-2026"


def create_user(
    app: Flask,
    user_id: uuid.UUID | None = None,
    *,
    role: str = "user",
    username: str | None = None,
    email: str | None = None,
    verified: bool = True,
) -> uuid.UUID:
    """A user in the database (with PASSWORD), created directly for tests of other features."""
    user_id = user_id or uuid.uuid4()
    name = username or f"traveller{user_id.hex[:8]}"
    with app.app_context():
        if db.session.get(User, user_id) is None:
            db.session.add(
                User(
                    id=user_id,
                    email=email or f"{name.lower()}@example.com",
                    username=name,
                    role=role,
                    is_verified=verified,
                    password_hash=hash_password(PASSWORD, "development"),
                )
            )
            db.session.commit()
    return user_id


def token_for(app: Flask, user_id: uuid.UUID | None = None, role: str = "user") -> dict[str, str]:
    """An Authorization header for a (created if needed) user with this id and role."""
    user_id = create_user(app, user_id, role=role)
    with app.app_context():
        pair = issue_pair(db.session.get(User, user_id))
    return {"Authorization": f"Bearer {pair['access_token']}"}


def sql(app: Flask, statement: str, **params: Any) -> list[Any]:
    with app.app_context():
        result = db.session.execute(text(statement), params)
        rows = result.all() if result.returns_rows else []
        db.session.commit()
        return rows


# --- no secret in any log line of the suite ----------------------------------------------

LOG_LINE = re.compile(r"^(\{.*\"event\".*\}|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\S* \[\s*\w+\s*\] .*)$")
LEAKS = (
    (re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"), "an email"),
    (re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}"), "a JWT"),
    (re.compile(r"\$argon2"), "a password hash"),
    (re.compile(r"whsec_[A-Za-z0-9+/]{8,}"), "a webhook secret"),
    (re.compile(r"(?i)\bbearer [A-Za-z0-9._-]{12,}"), "a bearer token"),
    (re.compile(r"Sunny-Ubud-Rice-2026|Terraces-of-Jatiluwih-7|Kelingking-Beach-42"), "a password"),
)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Every log line a test's processes wrote (captured stderr) is checked for secrets in
    clear: a leak fails the test that caused it, wherever in the suite it happens."""
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or report.failed:
        return
    for line in report.capstderr.splitlines():
        if not LOG_LINE.match(line):
            continue  # not one of our log lines (e.g. a test server's own traceback)
        for pattern, what in LEAKS:
            if pattern.search(line):
                report.outcome = "failed"
                report.longrepr = f"a log line shows {what} in clear:\n{line}"
                return
