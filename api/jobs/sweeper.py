"""The sweeper (celery beat, or cron through `flask jobs sweep`): no accepted job is lost.

It puts `running` jobs whose lease expired (their worker died) back in the queue, publishes
jobs that were never enqueued (the broker was down) or have waited too long (a lost message),
and re-publishes webhook deliveries whose message was lost. Publishing twice is harmless: the
claim decides. Runs inside a unit of work; messages go out after its commit.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from sqlalchemy import or_, select, update

from api.extensions import db
from api.jobs import events, webhooks
from api.jobs.broker import publish_after_commit
from api.jobs.kinds import KINDS
from api.jobs.models import Job, JobStatus
from api.jobs.submit import mark_not_enqueued
from api.models import utc_param, utcnow

log = logging.getLogger(__name__)

SWEEP_BATCH_SIZE = 500


@dataclass
class SweepReport:
    requeued: int = 0
    expired_leases: int = 0
    publish_failures: int = 0  # counted as the messages go out, after the commit
    webhooks_republished: int = 0


def sweep() -> SweepReport:
    """Find what needs publishing again; the messages follow the caller's commit."""
    now = utcnow()
    report = SweepReport()
    stale_before = now - timedelta(seconds=current_app.config["JOB_REQUEUE_AFTER_SECONDS"])
    expired = db.session.execute(
        update(Job)
        .where(Job.status == JobStatus.RUNNING, Job.lease_until < utc_param(now))
        .values(
            status=JobStatus.QUEUED,
            lease_until=None,
            enqueued_at=None,
            updated_at=now,
            version=Job.version + 1,
        )
        .returning(Job.id, Job.version)
        .execution_options(synchronize_session=False)
    ).all()
    report.expired_leases = len(expired)
    for job_id, version in expired:  # their waiters see them queued again
        events.notify_after_commit(job_id, version)
    query = (
        select(Job.id, Job.kind)
        .where(
            Job.status == JobStatus.QUEUED,
            or_(Job.enqueued_at.is_(None), Job.enqueued_at < utc_param(stale_before)),
        )
        .order_by(Job.created_at)
        .limit(SWEEP_BATCH_SIZE)
    )
    if db.engine.dialect.name == "postgresql":  # two sweepers never take the same rows
        query = query.with_for_update(skip_locked=True)
    due = db.session.execute(query).all()
    if due:
        db.session.execute(
            update(Job)
            .where(Job.id.in_([row.id for row in due]), Job.status == JobStatus.QUEUED)
            .values(enqueued_at=utc_param(now), updated_at=now)
            .execution_options(synchronize_session=False)
        )
    for row in due:
        _republish(row.id, row.kind, report)
    report.requeued = len(due)
    report.webhooks_republished = webhooks.sweep_missed()
    if due or report.expired_leases:
        log.info("job sweep: %s", report)
    return report


def _republish(job_id: uuid.UUID, kind: str, report: SweepReport) -> None:
    def failed() -> None:
        report.publish_failures += 1
        mark_not_enqueued(job_id)

    task = KINDS[kind].task
    publish_after_commit(task, [str(job_id)], task_id=str(job_id), on_failure=failed)
