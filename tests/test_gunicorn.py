"""gunicorn: workers from the CPUs the process may use, within PostgreSQL's max_connections,
and a graceful stop that finishes the requests in flight."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from config import load_config
from config.sizing import SizingError, cgroup_cpu_limit, usable_cpus, web_workers
from tests.conftest import PROJECT_ROOT, free_port
from tests.test_inquiries import VALID

# --- the CPUs: cgroup v2, cgroup v1, affinity ------------------------------------------------


def fake_cgroup(tmp_path: Path, proc_lines: str, files: dict[str, str]) -> tuple[Path, Path]:
    root = tmp_path / "cgroup"
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(content)
    proc = tmp_path / "proc-self-cgroup"
    proc.write_text(proc_lines)
    return root, proc


def test_cgroup_v2_quota_gives_the_cpus(tmp_path):
    root, proc = fake_cgroup(
        tmp_path,
        "0::/system.slice/web.service\n",
        {"system.slice/web.service/cpu.max": "200000 100000\n"},
    )
    assert cgroup_cpu_limit(root, proc) == 2.0
    assert usable_cpus(root, proc) == min(2, len(os.sched_getaffinity(0)))


def test_cgroup_v2_without_a_quota_is_no_limit(tmp_path):
    root, proc = fake_cgroup(tmp_path, "0::/web\n", {"web/cpu.max": "max 100000\n"})
    assert cgroup_cpu_limit(root, proc) is None
    assert usable_cpus(root, proc) == len(os.sched_getaffinity(0))


def test_cgroup_v2_a_parents_lower_quota_applies(tmp_path):
    root, proc = fake_cgroup(
        tmp_path,
        "0::/kubepods/pod1/web\n",
        {"kubepods/pod1/web/cpu.max": "400000 100000", "kubepods/pod1/cpu.max": "150000 100000"},
    )
    assert cgroup_cpu_limit(root, proc) == 1.5


def test_cgroup_v2_inside_a_container_reads_its_own_root(tmp_path):
    # A container's cgroup namespace shows "/" (or a host path absent here): the root's file.
    root, proc = fake_cgroup(tmp_path, "0::/\n", {"cpu.max": "50000 100000"})
    assert cgroup_cpu_limit(root, proc) == 0.5
    assert usable_cpus(root, proc) == 1  # a fraction rounds down, never below one


def test_cgroup_v1_cfs_quota_gives_the_cpus(tmp_path):
    root, proc = fake_cgroup(
        tmp_path,
        "4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n",
        {
            "cpu,cpuacct/docker/abc/cpu.cfs_quota_us": "300000\n",
            "cpu,cpuacct/docker/abc/cpu.cfs_period_us": "100000\n",
        },
    )
    assert cgroup_cpu_limit(root, proc) == 3.0


def test_cgroup_v1_unlimited_quota_is_no_limit(tmp_path):
    root, proc = fake_cgroup(
        tmp_path,
        "3:cpu,cpuacct:/\n",
        {"cpu,cpuacct/cpu.cfs_quota_us": "-1", "cpu,cpuacct/cpu.cfs_period_us": "100000"},
    )
    assert cgroup_cpu_limit(root, proc) is None


def test_no_cgroup_files_means_the_affinity(tmp_path):
    root, proc = tmp_path / "absent", tmp_path / "absent-proc"
    assert cgroup_cpu_limit(root, proc) is None
    assert usable_cpus(root, proc) == len(os.sched_getaffinity(0))


def test_affinity_below_the_quota_wins(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0})
    root, proc = fake_cgroup(tmp_path, "0::/\n", {"cpu.max": "800000 100000"})
    assert usable_cpus(root, proc) == 1


# --- the arithmetic --------------------------------------------------------------------------


def test_workers_follow_the_cpus_when_the_pools_fit():
    sizing = web_workers(
        cpus=4, requested=None, pool_per_worker=20, max_connections=100, reserve=20
    )
    assert (sizing.workers, sizing.capped) == (4, False)  # 4 x 20 = 80 <= 100 - 20


def test_workers_from_the_cpus_are_capped_to_what_the_database_allows():
    sizing = web_workers(
        cpus=8, requested=None, pool_per_worker=20, max_connections=100, reserve=20
    )
    assert (sizing.workers, sizing.capped) == (4, True)
    assert "8 workers x 20 connections = 160 > max_connections 100 - reserve 20 = 80" in (
        sizing.message
    )


def test_an_explicit_worker_count_that_does_not_fit_is_refused():
    with pytest.raises(SizingError, match=r"5 workers x 20 connections = 100 > max_connections"):
        web_workers(cpus=2, requested=5, pool_per_worker=20, max_connections=100, reserve=20)


def test_an_explicit_worker_count_that_fits_is_kept():
    sizing = web_workers(cpus=2, requested=4, pool_per_worker=20, max_connections=100, reserve=20)
    assert (sizing.workers, sizing.capped) == (4, False)


def test_when_not_even_one_worker_fits_start_up_is_refused():
    with pytest.raises(SizingError, match="refusing to start"):
        web_workers(cpus=2, requested=None, pool_per_worker=20, max_connections=30, reserve=20)


def test_without_a_known_limit_the_cpus_decide():
    sizing = web_workers(
        cpus=3, requested=None, pool_per_worker=1, max_connections=None, reserve=20
    )
    assert (sizing.workers, sizing.capped) == (3, False)


def test_the_pool_per_worker_is_pool_size_plus_overflow_as_configured(tmp_path):
    postgres = {"DATABASE_URL": "postgresql://u@db/x", "DATABASE_POOL_SIZE": "7"}
    assert load_config(postgres).connections_per_process == 14
    assert load_config({"DATA_DIR": str(tmp_path)}).connections_per_process is None  # SQLite


# --- gunicorn itself -------------------------------------------------------------------------


@contextmanager
def gunicorn(env: dict[str, str], port: int) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
        cwd=PROJECT_ROOT,
        env={**os.environ, **env, "PORT": str(port), "HOST": "127.0.0.1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


def wait_until_live(process: subprocess.Popen[str], port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read() if process.stdout else ""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/live", timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("gunicorn did not answer /health/live")


def test_gunicorn_refuses_workers_whose_pools_exceed_max_connections(base_env):
    env = {**base_env, "WEB_CONCURRENCY": "4", "DATABASE_POOL_SIZE": "50"}
    with gunicorn(env, free_port()) as process:
        output, _ = process.communicate(timeout=60)
    assert process.returncode != 0
    lines = output.strip().splitlines()
    # Test PostgreSQL runs with its default max_connections (100).
    assert lines[-1].startswith("gunicorn: refusing to start: 4 workers x 100 connections = 400"), (
        output
    )
    assert "Booting worker" not in output


def test_sigterm_lets_a_request_in_flight_finish_and_refuses_new_connections(base_env):
    port = free_port()
    env = {**base_env, "WEB_CONCURRENCY": "1", "LOG_LEVEL": "INFO"}
    with gunicorn(env, port) as process:
        wait_until_live(process, port)
        output: list[str] = []
        assert process.stdout is not None
        reader = threading.Thread(target=lambda: output.extend(process.stdout), daemon=True)
        reader.start()

        body = json.dumps(VALID).encode()
        slow = socket.create_connection(("127.0.0.1", port), timeout=30)
        slow.sendall(
            b"POST /api/v1/inquiries HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n".encode()
            + b"Expect: 100-continue\r\n\r\n"
        )
        # A worker has parsed the request: it is in flight, waiting for its body.
        assert slow.recv(64).startswith(b"HTTP/1.1 100 Continue")
        slow.sendall(body[:10])

        os.kill(process.pid, signal.SIGTERM)
        refused = False
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not refused:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                time.sleep(0.1)
            except ConnectionRefusedError:
                refused = True
        assert refused, "gunicorn still accepted new connections after SIGTERM"
        assert process.poll() is None  # still finishing the request in flight

        slow.sendall(body[10:])
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = slow.recv(4096)
            assert chunk, answer
            answer += chunk
        slow.close()
        assert answer.startswith(b"HTTP/1.1 202"), answer
        assert process.wait(30) == 0
        reader.join(5)
    assert any("Handling signal: term" in line for line in output), output
    # The start-up check ran against the test server's max_connections (100).
    assert any(
        "web workers: 1 workers x 20 connections = 20 <= max_connections 100 - reserve 20" in line
        for line in output
    ), output


def test_when_postgresql_cannot_be_asked_gunicorn_starts_on_the_cpu_count(base_env):
    """A database still starting must not stop the web tier: a warning, then the CPU count
    (/health/ready reports the database until it answers)."""
    port = free_port()
    closed = free_port()  # nothing listens there
    env = {
        **base_env,
        "WEB_CONCURRENCY": "1",
        "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{closed}/nothing",
    }
    with gunicorn(env, port) as process:
        wait_until_live(process, port)
        os.kill(process.pid, signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
    assert "could not read max_connections, workers not checked" in output, output
    assert "web workers: 1 workers (no database limit known)" in output, output
