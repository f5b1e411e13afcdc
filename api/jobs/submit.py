"""Submitting jobs: the job row joins the caller's unit of work; its message follows the commit.

Rules (DESIGN.md, "The job lifecycle"): the job and the feature's rows are written in the
request's one transaction; the Celery message (`task_id = job.id`) is published after that
commit; if publishing fails the job is marked never-enqueued (`enqueued_at` NULL) and the
sweeper publishes it. Idempotency-Key replays return the first job and create nothing.
"""

from __future__ import annotations

import logging
import uuid
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from api import logs
from api.database import on_end
from api.errors import Conflict, ValidationFailed
from api.extensions import db, security_store
from api.jobs.broker import publish_after_commit
from api.jobs.kinds import KINDS, JobKind
from api.jobs.models import Job, JobStatus
from api.models import utcnow
from api.security import Caller

log = logging.getLogger(__name__)

IN_FLIGHT_MARKER_SECONDS = 60


@dataclass(frozen=True)
class Submission:
    """Who submits, and the idempotency facts of the request."""

    caller: Caller
    idempotency_key: str | None = None
    fingerprint: str | None = None
    callback_url: str | None = None

    @property
    def scoped_key(self) -> str | None:
        if self.idempotency_key is None:
            return None
        return f"{self.caller.scope}:{self.idempotency_key}"


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
        idempotency_key=submission.scoped_key,
        request_fingerprint=submission.fingerprint if submission.scoped_key else None,
        callback_url=submission.callback_url,
        # The request (or the job) this one comes from: its worker's log lines and its webhook
        # carry the same id.
        request_id=logs.bound_context().get("request_id"),
    )


def _replay(submission: Submission) -> Job | None:
    """The job an earlier request with this Idempotency-Key created, if any."""
    job = db.session.scalar(select(Job).where(Job.idempotency_key == submission.scoped_key))
    if job is not None and job.request_fingerprint != submission.fingerprint:
        raise ValidationFailed(
            "This Idempotency-Key was already used with a different request body.",
            code="idempotency_key_reused",
        )
    return job


def _hold_in_flight_marker(scoped_key: str) -> None:
    """Hold the key's in-flight marker until this unit of work ends, or answer 409.

    If the cache is unreachable the request goes on unmarked: the unique key on `jobs` still
    guarantees one job, a concurrent duplicate just gets the replay instead of a 409.
    """
    marker = f"idempotency-in-flight:{scoped_key}"
    try:
        held = security_store.current.add(marker, 1, IN_FLIGHT_MARKER_SECONDS)
    except Exception:
        log.warning("idempotency marker unavailable; relying on the unique key", exc_info=True)
        return
    if not held:
        raise Conflict(
            "A request with this Idempotency-Key is still being processed.",
            code="request_in_progress",
            headers={"Retry-After": "1"},
        )

    def release() -> None:
        with suppress(Exception):  # it expires by itself
            security_store.current.delete(marker)

    on_end(release)


def submit(job: Job, submission: Submission, *related: Any) -> tuple[Job, bool]:
    """Add the job (and the feature's rows) to the unit of work; publish after its commit.

    Returns the job and whether it was created (False: an idempotent replay, nothing added).
    """
    if submission.scoped_key is not None:
        # Held until the first request's unit of work has ended (committed and published).
        _hold_in_flight_marker(submission.scoped_key)
        existing = _replay(submission)
        if existing is not None:
            return existing, False
    try:
        db.session.add(job)
        db.session.flush()  # the job first: the feature's rows point at it
        db.session.add_all(related)
        db.session.flush()
    except IntegrityError:
        if submission.scoped_key is None:
            raise
        db.session.rollback()  # a concurrent request with the same key won the race
        existing = _replay(submission)
        if existing is None:
            raise
        return existing, False
    enqueue_after_commit(job.id, KINDS[job.kind])
    return job, True


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
