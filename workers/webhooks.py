"""Webhook delivery: one attempt per task run; retries are scheduled by the delivery row.

The attempt's own deadline (WEBHOOK_TIMEOUT_SECONDS) keeps it well inside the task's time
limits, which stay as a backstop: an attempt they cut short was already counted by its claim.
"""

from __future__ import annotations

import uuid

from celery import Task, shared_task

from api.jobs import webhooks


@shared_task(  # acks_late and reject_on_worker_lost come from the CELERY settings
    name=webhooks.DELIVER_TASK,
    bind=True,
    soft_time_limit=webhooks.DELIVER_SOFT_TIME_LIMIT,
    time_limit=webhooks.DELIVER_TIME_LIMIT,
    max_retries=None,
)
def deliver(self: Task, delivery_id: str) -> None:
    delay = webhooks.deliver(uuid.UUID(delivery_id))
    if delay is not None:
        raise self.retry(countdown=delay)
