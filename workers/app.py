"""The Celery app, configured from the Flask app's `CELERY` settings (Flask's Celery pattern).

Settings come from `config` (`config_from_object(app.config["CELERY"])`); what the code's own
tables define is added here: one queue and exchange per job kind, the routes, and beat's
schedule from `api.maintenance.PERIODIC`. Start-up refuses settings that would break the job
lifecycle (a lease or visibility timeout too short for the tasks).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from celery import Celery, Task
from celery.beat import PersistentScheduler
from celery.signals import worker_process_init, worker_process_shutdown, worker_ready
from flask import Flask
from kombu import Exchange, Queue
from prometheus_client import multiprocess

from api.extensions import celery_app
from api.jobs import events, webhooks
from api.jobs.kinds import KINDS, MAINTENANCE_QUEUE, QUEUES, WEBHOOKS_QUEUE
from api.maintenance import PERIODIC, beat_schedule
from api.ops.metrics import start_metrics_server
from config import ConfigError

TASK_MODULES = [
    "workers.email",
    "workers.itinerary",
    "workers.maintenance",
    "workers.media",
    "workers.webhooks",
]


class Scheduler(PersistentScheduler):
    """Beat's file-backed scheduler, creating the schedule's folder (absent on a fresh clone)."""

    def setup_schedule(self) -> None:
        filename: str = self.schedule_filename  # type: ignore[attr-defined]  # not in the stubs
        Path(filename).parent.mkdir(parents=True, exist_ok=True)
        super().setup_schedule()


def sqlite_broker_file(broker_url: str) -> Path | None:
    """The file of kombu's SQLite transport (`sqla+sqlite:///path`), if that is the broker."""
    prefix = "sqla+sqlite:///"
    return Path(broker_url[len(prefix) :]) if broker_url.startswith(prefix) else None


def code_settings(config: dict[str, Any]) -> dict[str, Any]:
    """What the code's tables define: queues, routes and beat's schedule."""
    routes: dict[str, dict[str, str]] = {
        kind.task: {"queue": kind.queue} for kind in KINDS.values()
    }
    routes["maintenance.*"] = {"queue": MAINTENANCE_QUEUE}
    routes["webhooks.*"] = {"queue": WEBHOOKS_QUEUE}
    return {
        "task_default_queue": MAINTENANCE_QUEUE,
        # Each queue on its own direct exchange; a worker without -Q consumes them all.
        "task_queues": [Queue(name, Exchange(name), routing_key=name) for name in QUEUES],
        "task_routes": routes,
        "beat_schedule": beat_schedule(config),
    }


MIN_LEASE_SECONDS = 10


def check_lifecycle_settings(config: dict[str, Any]) -> None:
    """Refuse settings under which a live job would be taken over or redelivered.

    * The lease is renewed every third of JOB_LEASE_SECONDS while a job runs; under
      MIN_LEASE_SECONDS a short database blip (one missed renewal) would hand a live job on.
    * A Redis broker redelivers unacked messages after the visibility timeout; a retry waits
      in its worker, unacked, for up to the longest retry delay: the timeout must cover both.
    """
    longest_job = max(kind.time_limit for kind in KINDS.values())
    longest_task = max(
        longest_job, webhooks.DELIVER_TIME_LIMIT, *(entry.time_limit for entry in PERIODIC)
    )
    problems = []
    if config["JOB_LEASE_SECONDS"] < MIN_LEASE_SECONDS:
        problems.append(
            f"JOB_LEASE_SECONDS ({config['JOB_LEASE_SECONDS']}) must be at least "
            f"{MIN_LEASE_SECONDS} s (it is renewed every third of it)"
        )
    if config["CELERY_BROKER_URL"].startswith("redis"):
        longest_webhook_delay = config["WEBHOOK_RETRY_BASE_DELAY"] * 2 ** (
            config["WEBHOOK_MAX_ATTEMPTS"] - 1
        )
        needed = longest_task + max(config["JOB_RETRY_MAX_SECONDS"], longest_webhook_delay)
        if config["BROKER_VISIBILITY_TIMEOUT_SECONDS"] < needed:
            problems.append(
                f"BROKER_VISIBILITY_TIMEOUT_SECONDS ({config['BROKER_VISIBILITY_TIMEOUT_SECONDS']})"
                f" must be at least the longest task plus the longest retry delay ({needed} s)"
            )
    if problems:
        raise ConfigError("Refusing to start:\n  - " + "\n  - ".join(problems))


def celery_init_app(app: Flask) -> Celery[Any]:
    check_lifecycle_settings(app.config)

    class FlaskTask(Task):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            with app.app_context():
                return self.run(*args, **kwargs)

    celery: Celery[Any] = Celery(app.name, task_cls=FlaskTask, include=TASK_MODULES)
    celery.config_from_object(app.config["CELERY"])
    celery.conf.update(code_settings(app.config))
    celery.set_default()
    celery_app.init_app(app, celery)
    broker_file = sqlite_broker_file(app.config["CELERY_BROKER_URL"])
    if broker_file is not None:  # the API publishes and workers consume: both need the folder
        broker_file.parent.mkdir(parents=True, exist_ok=True)

    @worker_process_init.connect(weak=False)
    def reset_database_pool(**_kwargs: Any) -> None:
        """Forked pool processes must not share the parent's database connections."""
        with app.app_context():
            app.extensions["sqlalchemy"].engine.dispose(close=False)

    @worker_process_shutdown.connect(weak=False)
    def forget_dead_process(pid: int | None = None, **_kwargs: Any) -> None:
        events.flush_notifications()  # a pool process ends with os._exit: no atexit
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            multiprocess.mark_process_dead(pid or os.getpid())

    @worker_ready.connect(weak=False)
    def serve_worker_metrics(**_kwargs: Any) -> None:
        """A worker's own /metrics (its pool processes summed), for hosts with no web node."""
        if app.config["WORKER_METRICS_PORT"]:
            start_metrics_server(app)

    return celery
