"""Periodic upkeep run by celery beat (or by cron through `flask jobs ...`)."""

from __future__ import annotations

from dataclasses import asdict

from celery import shared_task

from api.jobs import service as jobs


@shared_task(name="maintenance.sweep_jobs", soft_time_limit=50, time_limit=60)
def sweep_jobs() -> dict[str, int]:
    return asdict(jobs.sweep())


@shared_task(name="maintenance.purge_idempotency_keys", soft_time_limit=50, time_limit=60)
def purge_idempotency_keys() -> int:
    return jobs.purge_idempotency_keys()
