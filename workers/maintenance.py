"""Periodic upkeep run by celery beat (or by cron through `flask jobs ...`)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from celery import shared_task

from api.blog import views
from api.jobs import service as jobs
from api.media import service as media
from api.ops import warmup


@shared_task(name="maintenance.sweep_jobs", soft_time_limit=50, time_limit=60)
def sweep_jobs() -> dict[str, int]:
    return asdict(jobs.sweep())


@shared_task(name="maintenance.purge_idempotency_keys", soft_time_limit=50, time_limit=60)
def purge_idempotency_keys() -> int:
    return jobs.purge_idempotency_keys()


@shared_task(name="maintenance.warm_cache", soft_time_limit=110, time_limit=120)
def warm_cache() -> dict[str, Any]:
    return warmup.warm()


@shared_task(name="maintenance.flush_post_views", soft_time_limit=50, time_limit=60)
def flush_post_views() -> int:
    return views.flush()


@shared_task(name="maintenance.purge_orphaned_media", soft_time_limit=50, time_limit=60)
def purge_orphaned_media() -> int:
    """Uploads older than a day that failed, never finished, or that nothing uses."""
    return media.purge_orphans()
