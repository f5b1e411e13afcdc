"""Prometheus metrics: HTTP requests by route and status, jobs by kind and status, queue depth.

Under gunicorn set PROMETHEUS_MULTIPROC_DIR (gunicorn.conf.py does) so the request counters
of every worker process are summed; job and queue figures are read at scrape time.
"""

from __future__ import annotations

import hmac
import logging
import os
import threading
from collections.abc import Iterator
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from flask import Flask, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from api.extensions import ai_guard
from api.jobs import service as jobs
from api.jobs.broker import queue_depths
from api.ops import warmup
from api.telemetry import RECORDED

log = logging.getLogger(__name__)


class JobCollector(Collector):
    """Reads job counts from the database and queue depth from the broker when scraped."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def collect(self) -> Iterator[GaugeMetricFamily]:
        jobs_family = GaugeMetricFamily(
            "baliblissed_jobs", "Jobs by kind and status.", labels=["kind", "status"]
        )
        depth = GaugeMetricFamily(
            "baliblissed_queue_depth", "Messages waiting in each broker queue.", labels=["queue"]
        )
        warm_keys = GaugeMetricFamily(
            "baliblissed_cache_warm_keys", "Keys filled by the last cache warm-up."
        )
        warm_seconds = GaugeMetricFamily(
            "baliblissed_cache_warm_duration_seconds", "Run time of the last cache warm-up."
        )
        warm_time = GaugeMetricFamily(
            "baliblissed_cache_warm_finished_timestamp_seconds", "When the last warm-up ended."
        )
        breaker = GaugeMetricFamily(
            "baliblissed_gemini_breaker_open",
            "1 while Gemini's circuit breaker is open (the local planner answers), else 0.",
        )
        with self.app.app_context():
            try:
                for kind, status, count in jobs.counts_by_kind_and_status():
                    jobs_family.add_metric([kind, status], count)
            except Exception:  # a scrape must not fail because the database is down
                log.warning("could not count jobs for metrics", exc_info=True)
            for queue, size in queue_depths().items():
                depth.add_metric([queue], size)
            try:
                last = warmup.last_run()
            except Exception:  # the cache being down must not fail a scrape
                last = None
            if last:
                warm_keys.add_metric([], last["keys"])
                warm_seconds.add_metric([], last["duration_seconds"])
                warm_time.add_metric([], last["finished_at"])
            try:
                breaker.add_metric([], 1.0 if ai_guard.current.is_open() else 0.0)
            except Exception:  # the cache being down must not fail a scrape
                log.warning("could not read the Gemini breaker for metrics", exc_info=True)
        yield from (jobs_family, depth, warm_keys, warm_seconds, warm_time, breaker)


def _process_registry() -> CollectorRegistry:
    """The counters of this process, or of every gunicorn process in multiprocess mode."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        for collector in RECORDED:
            registry.register(collector)
    return registry


def metrics_response(app: Flask) -> Response:
    registry = _process_registry()
    registry.register(app.extensions["job_collector"])
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


def cache_counts() -> dict[str, int]:
    """Cached public reads served from the cache (hits) or built (misses), all processes."""
    counts = {"hits": 0, "misses": 0}
    for family in _process_registry().collect():
        if family.name == "baliblissed_cache_requests":
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    counts["hits" if sample.labels["result"] == "hit" else "misses"] += int(
                        sample.value
                    )
    return counts


def init_app(app: Flask) -> None:
    """Request metrics are observed by `api.edge` (one hook pair for every answer)."""
    app.extensions["job_collector"] = JobCollector(app)


def start_metrics_server(app: Flask) -> None:
    """Serve this process's registry (a Celery worker's pool, summed) on WORKER_METRICS_PORT,
    behind METRICS_TOKEN when it is set, from a background thread."""
    token = app.config["METRICS_TOKEN"].encode()

    def serve(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        presented = environ.get("HTTP_AUTHORIZATION", "").removeprefix("Bearer ").encode()
        if token and not hmac.compare_digest(presented, token):
            start_response("401 Unauthorized", [("WWW-Authenticate", "Bearer")])
            return [b"Send Authorization: Bearer <METRICS_TOKEN>.\n"]
        start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST)])
        return [generate_latest(_process_registry())]

    server = make_server(
        app.config["HOST"], app.config["WORKER_METRICS_PORT"], serve, handler_class=_QuietHandler
    )
    threading.Thread(target=server.serve_forever, name="worker-metrics", daemon=True).start()
    log.info("worker metrics on %s:%s", app.config["HOST"], app.config["WORKER_METRICS_PORT"])


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return None
