"""The Celery app, configured from the Flask app's settings (Flask's Celery pattern)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from celery import Celery, Task
from celery.beat import PersistentScheduler
from celery.signals import worker_process_init
from flask import Flask
from kombu import Exchange, Queue

from api.jobs.kinds import KINDS, MAINTENANCE_QUEUE, QUEUES, WEBHOOKS_QUEUE

TASK_MODULES = [
    "workers.email",
    "workers.itinerary",
    "workers.maintenance",
    "workers.media",
    "workers.webhooks",
]
VISIBILITY_TIMEOUT_SECONDS = 3600  # above the longest task plus the longest retry delay


def broker_transport_options(broker_url: str) -> dict[str, Any]:
    if broker_url.startswith("redis"):
        return {
            "visibility_timeout": VISIBILITY_TIMEOUT_SECONDS,
            "socket_connect_timeout": 3,
            "socket_timeout": 10,
        }
    if broker_url.startswith("sqla+"):
        # kombu hands these to create_engine(); SQLite waits for the API's writes to finish.
        return {"connect_args": {"timeout": 30}}
    return {}  # AMQP: redelivery on a lost connection needs no visibility timeout


def celery_config(config: dict[str, Any]) -> dict[str, Any]:
    routes: dict[str, dict[str, str]] = {
        kind.task: {"queue": kind.queue} for kind in KINDS.values()
    }
    routes["maintenance.*"] = {"queue": MAINTENANCE_QUEUE}
    routes["webhooks.*"] = {"queue": WEBHOOKS_QUEUE}
    return {
        "broker_url": config["CELERY_BROKER_URL"],
        "broker_connection_retry_on_startup": True,
        "broker_connection_timeout": 3,
        "broker_transport_options": broker_transport_options(config["CELERY_BROKER_URL"]),
        # A failed publish is answered quickly; the job stays queued for the sweeper.
        "task_publish_retry_policy": {
            "max_retries": 2,
            "interval_start": 0,
            "interval_step": 0.2,
            "interval_max": 0.5,
        },
        "task_ignore_result": True,
        "result_backend": None,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "worker_concurrency": config["CELERY_WORKER_CONCURRENCY"],
        "task_default_queue": MAINTENANCE_QUEUE,
        # Each queue on its own direct exchange; a worker without -Q consumes them all.
        "task_queues": [Queue(name, Exchange(name), routing_key=name) for name in QUEUES],
        "task_routes": routes,
        "task_soft_time_limit": 120,
        "task_time_limit": 150,
        "worker_send_task_events": True,
        "timezone": "UTC",
        "enable_utc": True,
        "beat_scheduler": "workers.app:Scheduler",
        "beat_schedule_filename": config["BEAT_SCHEDULE_FILE"],
        "beat_schedule": {
            "sweep-jobs": {
                "task": "maintenance.sweep_jobs",
                "schedule": float(config["JOB_SWEEP_INTERVAL_SECONDS"]),
            },
            "purge-idempotency-keys": {
                "task": "maintenance.purge_idempotency_keys",
                "schedule": 3600.0,
            },
            "warm-cache": {
                "task": "maintenance.warm_cache",
                "schedule": float(config["CACHE_WARM_INTERVAL_SECONDS"]),
            },
            "flush-post-views": {
                "task": "maintenance.flush_post_views",
                "schedule": float(config["VIEW_FLUSH_INTERVAL_SECONDS"]),
            },
            "purge-orphaned-media": {
                "task": "maintenance.purge_orphaned_media",
                "schedule": 3600.0,
            },
        },
    }


class Scheduler(PersistentScheduler):
    """Beat's file-backed scheduler, creating the schedule's folder (absent on a fresh clone)."""

    def setup_schedule(self) -> None:
        Path(self.schedule_filename).parent.mkdir(parents=True, exist_ok=True)
        super().setup_schedule()


def sqlite_broker_file(broker_url: str) -> Path | None:
    """The file of kombu's SQLite transport (`sqla+sqlite:///path`), if that is the broker."""
    prefix = "sqla+sqlite:///"
    return Path(broker_url[len(prefix) :]) if broker_url.startswith(prefix) else None


def celery_init_app(app: Flask) -> Celery:
    class FlaskTask(Task):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            with app.app_context():
                return self.run(*args, **kwargs)

    celery = Celery(app.name, task_cls=FlaskTask, include=TASK_MODULES)
    celery.conf.update(celery_config(app.config))
    celery.set_default()
    app.extensions["celery"] = celery
    broker_file = sqlite_broker_file(app.config["CELERY_BROKER_URL"])
    if broker_file is not None:  # the API publishes and workers consume: both need the folder
        broker_file.parent.mkdir(parents=True, exist_ok=True)

    @worker_process_init.connect(weak=False)
    def reset_database_pool(**_kwargs: Any) -> None:
        """Forked pool processes must not share the parent's database connections."""
        with app.app_context():
            app.extensions["sqlalchemy"].engine.dispose(close=False)

    return celery
