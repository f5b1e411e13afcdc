"""The sweeper (celery beat, or cron through `flask jobs sweep`): no accepted job is lost.

It puts `running` jobs whose lease expired (their worker died) back in the queue, publishes
jobs that were never enqueued (the broker was down) or have waited too long (a lost message),
and re-publishes webhook deliveries whose message was lost. Publishing twice is harmless: the
claim decides. Runs inside a unit of work; messages go out after its commit.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import Row, func, or_, select, update

from api.extensions import db
from api.jobs import events, webhooks
from api.jobs.broker import publish_after_commit, queue_depths
from api.jobs.kinds import KINDS
from api.jobs.models import Job, JobStatus
from api.jobs.submit import mark_not_enqueued
from api.models import utc_param, utcnow

log = logging.getLogger(__name__)
Due = Row[uuid.UUID, str, datetime | None]  # a queued job due for a message: id, kind, enqueued_at

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
        select(Job.id, Job.kind, Job.enqueued_at)
        .where(
            Job.status == JobStatus.QUEUED,
            or_(Job.enqueued_at.is_(None), Job.enqueued_at < utc_param(stale_before)),
        )
        .order_by(Job.created_at)
        .limit(SWEEP_BATCH_SIZE)
    )
    if db.engine.dialect.name == "postgresql":  # two sweepers never take the same rows
        query = query.with_for_update(skip_locked=True)
    due = _missing_from_broker(db.session.execute(query).all())
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


def _missing_from_broker(due: Sequence[Due]) -> list[Due]:
    """Of the queued jobs due for another message, those the broker plausibly lacks one for.

    A job whose publish failed (`enqueued_at` unset) always gets one. A job merely waiting
    longer than JOB_REQUEUE_AFTER_SECONDS gets one only while its queue holds fewer messages
    than there are queued jobs of its kinds (a worker died holding prefetched messages), the
    oldest first, as many as are missing: a long backlog is not re-published every sweep. When
    the broker cannot say, every due job is published again (duplicates are harmless)."""
    stale = [row for row in due if row.enqueued_at is not None]
    if not stale:
        return list(due)
    depths = queue_depths()
    if not depths:
        return list(due)
    queued = dict(
        db.session.execute(
            select(Job.kind, func.count()).where(Job.status == JobStatus.QUEUED).group_by(Job.kind)
        ).all()
    )
    missing: dict[str, int] = {}
    for kind, count in queued.items():
        queue = KINDS[kind].queue
        missing[queue] = missing.get(queue, 0) + count
    for queue in missing:
        missing[queue] -= depths.get(queue, 0)
    chosen = []
    for row in due:
        queue = KINDS[row.kind].queue
        if row.enqueued_at is None:
            chosen.append(row)
        elif missing.get(queue, 0) > 0:
            missing[queue] -= 1
            chosen.append(row)
    return chosen


def _republish(job_id: uuid.UUID, kind: str, report: SweepReport) -> None:
    def failed() -> None:
        report.publish_failures += 1
        mark_not_enqueued(job_id)

    task = KINDS[kind].task
    publish_after_commit(task, [str(job_id)], task_id=str(job_id), on_failure=failed)
