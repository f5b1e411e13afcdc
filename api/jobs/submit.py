"""Submitting jobs: the job row joins the caller's unit of work; its message follows the commit.

Rules (DESIGN.md, "The job lifecycle"): the job and the feature's rows are written in the
request's one transaction; the Celery message (`task_id = job.id`) is published after that
commit; if publishing fails the job is marked never-enqueued (`enqueued_at` NULL) and the
sweeper publishes it. Idempotency-Key replays are answered before (`api.idempotency`).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import update

from api import logs
from api.database import insert_new
from api.extensions import db
from api.jobs.broker import publish_after_commit
from api.jobs.kinds import KINDS, JobKind
from api.jobs.models import Job, JobStatus
from api.models import utcnow
from api.security import Caller

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Submission:
    """Who submits, and where the outcome's webhook goes."""

    caller: Caller
    callback_url: str | None = None


def new_job(kind: JobKind, submission: Submission, payload: dict[str, Any]) -> Job:
    """A job row, not yet added, so a feature can point its own rows at `job.id` first."""
    return Job(
        id=uuid.uuid4(),
        kind=kind.name,
        status=JobStatus.QUEUED,
        owner_id=submission.caller.user_id,
        payload=payload,
        progress={},
        attempts=0,
        enqueued_at=utcnow(),
        callback_url=submission.callback_url,
        # The request (or the job) this one comes from: its worker's log lines and its webhook
        # carry the same id.
        request_id=logs.bound_context().get("request_id"),
    )


def submit(job: Job, submission: Submission, *related: Any) -> Job:
    """Add the job (and the feature's rows) to the unit of work; publish after its commit.

    A repeated Idempotency-Key never gets here: `api.idempotency` replays it first.
    """
    insert_new(job, *related)  # one round trip; the job first: the feature's rows point at it
    enqueue_after_commit(job.id, KINDS[job.kind])
    return job


def enqueue_after_commit(job_id: uuid.UUID, kind: JobKind) -> None:
    """Publish the job's task after the commit; if that fails, mark it for the sweeper."""
    publish_after_commit(
        kind.task,
        [str(job_id)],
        task_id=str(job_id),
        on_failure=lambda: mark_not_enqueued(job_id),
    )


def mark_not_enqueued(job_id: uuid.UUID) -> None:
    """`enqueued_at` NULL: the sweeper publishes it at its next run (its own transaction: the
    unit of work that made the job has committed already)."""
    try:
        with db.engine.begin() as connection:
            connection.execute(
                update(Job)
                .where(Job.id == job_id, Job.status == JobStatus.QUEUED)
                .values(enqueued_at=None)
            )
    except Exception:  # the database is down too: the sweeper's stale check still finds it
        log.error("could not mark job %s for the sweeper", job_id, exc_info=True)
