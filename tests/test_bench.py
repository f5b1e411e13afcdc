"""`bench/run.py --quick` as a smoke test (BENCH_SMOKE=1 only: it starts servers and workers and
takes minutes). It checks that one run prints every figure of issue 12 with its baseline and a
verdict; the figures themselves are never asserted (speed belongs in bench/, not in tests)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import PROJECT_ROOT

pytestmark = [
    pytest.mark.skipif(os.environ.get("BENCH_SMOKE") != "1", reason="set BENCH_SMOKE=1 to run"),
    pytest.mark.timeout(1500),
]

FIGURES = [
    "submit → succeeded, one outbox email job, long-polled, p50",
    "submit → succeeded, one outbox email job, via SSE, p50",
    "email jobs/s, one worker (concurrency 2) vs bare no-op Celery tasks",
    "concurrent long-poll waiters on one node",
    "every waiter's answer after its job ended",
    "GET /health/live vs bare hello",
    "GET /health/live through the app's route and hooks (a request with an Origin)",
    "POST /api/v1/inquiries vs bare INSERT + publish",
    "GET /api/v1/jobs/{id} vs bare SELECT by id",
    "cached GET /api/v1/posts vs bare hello",
    "cached GET /api/v1/posts/{slug} vs bare hello",
    "the two cached reads vs the original FastAPI backend",
]


def test_quick_bench_prints_every_figure_with_its_baseline() -> None:
    result = subprocess.run(
        [sys.executable, "bench/run.py", "--quick"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=1400,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    table = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    assert table[0].split("|")[1:-1] == [" figure ", " app ", " baseline ", " ratio ", " target "]
    for figure in FIGURES:
        rows = [line for line in table if figure in line]
        assert len(rows) == 1, f"{figure!r} missing from:\n" + "\n".join(table)
        cells = [cell.strip() for cell in rows[0].split("|")[1:-1]]
        assert cells[1], f"{figure}: no figure for the app"
        verdicts = ("met", "MISSED", "not measured", "no target")
        assert any(word in cells[4] for word in verdicts), cells
    assert "machine:" in result.stdout
