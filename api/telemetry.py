"""Every Prometheus metric the processes record, in one place (the scrape side, `/metrics`,
is `api.ops.metrics`; figures read from the database or the broker at scrape time are there).

Under gunicorn and Celery, PROMETHEUS_MULTIPROC_DIR makes each process write its samples to
files that a scrape sums (`gunicorn.conf.py` and `celery_app.py` set it): a web node's
`/metrics` shows its web processes, and the worker processes of the same host when they share
the folder (`make run`), or a worker's own endpoint (WORKER_METRICS_PORT) shows a worker's.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.registry import Collector

SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)

HTTP_REQUESTS = Counter(
    "baliblissed_http_requests_total", "HTTP requests answered.", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "baliblissed_http_request_duration_seconds",
    "Time to answer HTTP requests.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
RATE_LIMITED = Counter(
    "baliblissed_rate_limited_total", "Requests refused by a rate limit (429).", ["route"]
)
CACHE_REQUESTS = Counter(
    "baliblissed_cache_requests_total",
    "Cached public reads, by namespace and outcome (hit, miss).",
    ["namespace", "result"],
)
WAITING = Gauge(
    "baliblissed_waiting_clients",
    "Long-polls and event streams waiting for a job, per web process (summed).",
    multiprocess_mode="livesum",
)
WAITER_ENDS = Counter(
    "baliblissed_waiter_terminal_reads_total",
    "Waiters that found their job ended, by what made them read it: its change notification, "
    "the slow re-check (a missed notification), or the wait's deadline.",
    ["cause"],
)

JOB_QUEUE_WAIT = Histogram(
    "baliblissed_job_queue_wait_seconds",
    "From a job's submission (or its retry's due time) to its claim by a worker.",
    ["kind"],
    buckets=SECONDS,
)
JOB_RUN_TIME = Histogram(
    "baliblissed_job_run_seconds",
    "From a job attempt's claim to its committed outcome.",
    ["kind"],
    buckets=SECONDS,
)
JOB_OUTCOMES = Counter(
    "baliblissed_job_outcomes_total",
    "Job attempts by outcome (succeeded, failed, retried, superseded) and error code.",
    ["kind", "outcome", "code"],
)
EMAILS_SENT = Counter("baliblissed_emails_sent_total", "Email messages sent.", ["provider"])
GEMINI_CALLS = Counter(
    "baliblissed_gemini_calls_total", "Calls to Gemini, by result (ok, error).", ["result"]
)
GEMINI_FALLBACKS = Counter(
    "baliblissed_gemini_fallbacks_total",
    "Answers made locally instead of by Gemini, by reason.",
    ["reason"],
)
WEBHOOK_DELIVERIES = Counter(
    "baliblissed_webhook_attempts_total",
    "Webhook attempts by outcome (delivered, retry, failed).",
    ["outcome"],
)
WEBHOOK_ATTEMPT_SECONDS = Histogram(
    "baliblissed_webhook_attempt_seconds",
    "Time of one webhook attempt (bounded by WEBHOOK_TIMEOUT_SECONDS).",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)

RECORDED: tuple[Collector, ...] = (
    HTTP_REQUESTS,
    HTTP_LATENCY,
    RATE_LIMITED,
    CACHE_REQUESTS,
    WAITING,
    WAITER_ENDS,
    JOB_QUEUE_WAIT,
    JOB_RUN_TIME,
    JOB_OUTCOMES,
    EMAILS_SENT,
    GEMINI_CALLS,
    GEMINI_FALLBACKS,
    WEBHOOK_DELIVERIES,
    WEBHOOK_ATTEMPT_SECONDS,
)


# (metric, label values) -> the metric's child: `labels()` checks and joins its arguments on
# every call, a dict lookup does not. Bounded by the label values the code uses (routes,
# statuses, cache namespaces).
_SERIES: dict[tuple[Any, tuple[str, ...]], Any] = {}


def series(metric: Any, *labels: str) -> Any:
    """The child of `metric` for these label values, looked up once per process."""
    key = (metric, labels)
    found = _SERIES.get(key)
    if found is None:
        found = _SERIES[key] = metric.labels(*labels)
    return found


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    """Count one answered request and its latency."""
    series(HTTP_LATENCY, method, route).observe(seconds)
    series(HTTP_REQUESTS, method, route, str(status)).inc()


def count_cache_request(namespace: str, result: str) -> None:
    """Count one cached read (`hit` or `miss`) of a namespace."""
    series(CACHE_REQUESTS, namespace, result).inc()
