"""Periodic upkeep run by celery beat (or by cron through `flask jobs ...`)."""

from __future__ import annotations

from dataclasses import asdict

from celery import shared_task

from api.jobs import service as jobs
from api.media import service as media


@shared_task(name="maintenance.sweep_jobs", soft_time_limit=50, time_limit=60)
def sweep_jobs() -> dict[str, int]:
    return asdict(jobs.sweep())


@shared_task(name="maintenance.purge_idempotency_keys", soft_time_limit=50, time_limit=60)
def purge_idempotency_keys() -> int:
    return jobs.purge_idempotency_keys()


@shared_task(name="maintenance.purge_orphaned_media", soft_time_limit=50, time_limit=60)
def purge_orphaned_media() -> int:
    """Uploads older than a day that failed, never finished, or that nothing uses."""
    return media.purge_orphans()
