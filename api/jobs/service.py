"""The job lifecycle, shared by the API (submit, poll, cancel) and the workers (claim, finish).

Rules (DESIGN.md, "The job lifecycle"): the row is committed before the Celery message is
published, with `task_id = job.id`; a failed publish leaves the job `queued` for the sweeper;
workers claim a job with one conditional UPDATE and every later write is fenced by the attempt
number they claimed, so a worker that lost its lease cannot overwrite a newer attempt.
"""

from __future__ import annotations

import logging
import time
import uuid
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import Select, and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from api.database import read_without_transaction
from api.errors import Conflict, NotFound, ValidationFailed
from api.extensions import cache, db
from api.jobs.kinds import KINDS, JobKind
from api.jobs.models import TERMINAL_STATUSES, Job, JobStatus
from api.models import utc_param, utcnow
from api.security import Caller
from api.webhooks import service as webhooks

log = logging.getLogger(__name__)

IN_FLIGHT_MARKER_SECONDS = 60
LONG_POLL_INTERVAL_SECONDS = 0.25
SWEEP_BATCH_SIZE = 500


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


@dataclass
class JobRun:
    """What a worker holds while it runs one attempt of a job."""

    id: uuid.UUID
    kind: str
    payload: dict[str, Any]
    attempt: int
    owner_id: uuid.UUID | None = None
    progress: dict[str, Any] = field(default_factory=dict)


# --- submitting ------------------------------------------------------------------------------


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


def _mark_in_flight(scoped_key: str) -> str | None:
    """Claim the in-flight marker for a key; None when another request holds it.

    If the cache is unreachable the request goes on unmarked: the unique key on `jobs` still
    guarantees one job, a concurrent duplicate just gets the replay instead of a 409.
    """
    marker = f"idempotency-in-flight:{scoped_key}"
    try:
        return marker if cache.add(marker, "1", timeout=IN_FLIGHT_MARKER_SECONDS) else None
    except Exception:
        log.warning("idempotency marker unavailable; relying on the unique key", exc_info=True)
        return ""


def submit(job: Job, submission: Submission, *related: Any) -> tuple[Job, bool]:
    """Persist the job (and the feature's rows) in one transaction, then enqueue it.

    Returns the job and whether it was created (False: an idempotent replay).
    """
    marker = None
    if submission.scoped_key is not None:
        marker = _mark_in_flight(submission.scoped_key)
        if marker is None:
            raise Conflict(
                "A request with this Idempotency-Key is still being processed.",
                code="request_in_progress",
                headers={"Retry-After": "1"},
            )
    try:
        if submission.scoped_key is not None:
            existing = _replay(submission)
            if existing is not None:
                return existing, False
        try:
            db.session.add(job)
            db.session.flush()  # the job first: the feature's rows point at it
            db.session.add_all(related)
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
            existing = _replay(submission) if submission.scoped_key else None
            if existing is None:
                raise
            return existing, False
        enqueue(job.id, KINDS[job.kind])
        return job, True
    finally:
        # Held until the job is enqueued: a retry meanwhile is told the request is in flight.
        if marker:
            with suppress(Exception):  # it expires by itself; never fail an accepted request
                cache.delete(marker)


def enqueue(job_id: uuid.UUID, kind: JobKind) -> bool:
    """Publish the job's task; on any broker failure leave it for the sweeper."""
    try:
        current_app.extensions["celery"].send_task(
            kind.task, args=[str(job_id)], task_id=str(job_id)
        )
    except Exception:  # the request already succeeded; the sweeper will publish it
        log.warning("could not enqueue job %s; the sweeper will retry", job_id, exc_info=True)
        db.session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status == JobStatus.QUEUED)
            .values(enqueued_at=None)
            .execution_options(synchronize_session=False)
        )
        db.session.commit()
        return False
    return True


# --- reading and canceling -------------------------------------------------------------------


def can_view(job: Job, caller: Caller) -> bool:
    return job.owner_id is None or caller.is_admin or job.owner_id == caller.user_id


def get_visible(job_id: uuid.UUID, caller: Caller) -> Job:
    """The job, or 404 both when it does not exist and when it is someone else's."""
    read_without_transaction()
    job = db.session.get(Job, job_id, populate_existing=True)
    if job is None or not can_view(job, caller):
        raise NotFound("No job with this id.")
    return job


def wait_for_terminal(job_id: uuid.UUID, caller: Caller, seconds: float) -> Job:
    """Long-poll: the job as soon as it is terminal, or as it stands after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        job = get_visible(job_id, caller)
        if job.is_terminal or time.monotonic() >= deadline:
            return job
        db.session.rollback()  # never hold a transaction open while sleeping
        time.sleep(min(LONG_POLL_INTERVAL_SECONDS, max(0.0, deadline - time.monotonic())))


def list_for(caller: Caller, kind: str | None, status: str | None) -> Select[tuple[Job]]:
    query = select(Job).where(Job.owner_id == caller.user_id)
    if kind:
        query = query.where(Job.kind == kind)
    if status:
        query = query.where(Job.status == status)
    return query.order_by(Job.created_at.desc(), Job.id)


def cancel(job_id: uuid.UUID, caller: Caller) -> Job:
    job = get_visible(job_id, caller)
    now = utcnow()
    canceled = db.session.execute(
        update(Job)
        .where(Job.id == job.id, Job.status.in_([JobStatus.QUEUED, JobStatus.RUNNING]))
        .values(
            status=JobStatus.CANCELED, finished_at=utc_param(now), lease_until=None, updated_at=now
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    _commit_terminal(job.id if canceled else None)
    job = get_visible(job_id, caller)
    if not canceled:
        raise Conflict(f"The job already finished with status {job.status}.")
    return job


# --- the worker side -------------------------------------------------------------------------


def claim(job_id: uuid.UUID) -> JobRun | None:
    """Take the job for one attempt, or None when it is finished or a live worker has it."""
    now = utcnow()
    lease = timedelta(seconds=current_app.config["JOB_LEASE_SECONDS"])
    row = db.session.execute(
        update(Job)
        .where(
            Job.id == job_id,
            or_(
                Job.status == JobStatus.QUEUED,
                and_(Job.status == JobStatus.RUNNING, Job.lease_until < utc_param(now)),
            ),
        )
        .values(
            status=JobStatus.RUNNING,
            attempts=Job.attempts + 1,
            lease_until=utc_param(now + lease),
            started_at=func.coalesce(Job.started_at, utc_param(now)),
            updated_at=now,
        )
        .returning(Job.kind, Job.payload, Job.progress, Job.attempts, Job.owner_id)
        .execution_options(synchronize_session=False)
    ).one_or_none()
    db.session.commit()
    if row is None:
        return None
    return JobRun(
        id=job_id,
        kind=row.kind,
        payload=row.payload,
        attempt=row.attempts,
        owner_id=row.owner_id,
        progress=dict(row.progress or {}),
    )


def _commit_terminal(job_id: uuid.UUID | None) -> None:
    """Commit a job's move to a terminal status together with its webhook delivery (if it has
    a callback), then publish the delivery."""
    delivery_id = webhooks.record_terminal_event(job_id) if job_id else None
    db.session.commit()
    if delivery_id:
        webhooks.publish(delivery_id)


def _fenced_update(run: JobRun, **values: Any) -> bool:
    """Write to the job only if this attempt still holds it (not canceled, not taken over)."""
    values.setdefault("updated_at", utcnow())
    updated = db.session.execute(
        update(Job)
        .where(Job.id == run.id, Job.status == JobStatus.RUNNING, Job.attempts == run.attempt)
        .values(**values)
        .execution_options(synchronize_session=False)
    ).rowcount
    terminal = updated and values.get("status") in TERMINAL_STATUSES
    _commit_terminal(run.id if terminal else None)
    if not updated:
        log.info("job %s attempt %s no longer holds the job; write dropped", run.id, run.attempt)
    return bool(updated)


def save_progress(run: JobRun) -> bool:
    """Record partial progress and renew the lease; False means stop working on this job."""
    lease = timedelta(seconds=current_app.config["JOB_LEASE_SECONDS"])
    return _fenced_update(run, progress=dict(run.progress), lease_until=utc_param(utcnow() + lease))


def complete(run: JobRun, result: dict[str, Any]) -> bool:
    return _fenced_update(
        run,
        status=JobStatus.SUCCEEDED,
        result=result,
        progress=dict(run.progress),
        finished_at=utc_param(utcnow()),
        lease_until=None,
    )


def fail(run: JobRun, code: str, message: str) -> bool:
    return _fenced_update(
        run,
        status=JobStatus.FAILED,
        error_code=code,
        error_message=message[:500],
        progress=dict(run.progress),
        finished_at=utc_param(utcnow()),
        lease_until=None,
    )


def schedule_retry(run: JobRun, delay_seconds: float) -> bool:
    """Put the job back in the queue; `enqueued_at` is the retry's due time."""
    return _fenced_update(
        run,
        status=JobStatus.QUEUED,
        progress=dict(run.progress),
        lease_until=None,
        enqueued_at=utc_param(utcnow() + timedelta(seconds=delay_seconds)),
    )


# --- maintenance -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepReport:
    requeued: int
    expired_leases: int
    publish_failures: int
    webhooks_republished: int


def sweep() -> SweepReport:
    """Re-publish jobs left queued (publish failed or message lost) and jobs whose worker died,
    and webhook deliveries whose message was lost.

    Jobs `running` past their lease go back to `queued` first, so the next claim is ordinary.
    Safe to run concurrently with workers: publishing twice is harmless, the claim decides.
    """
    now = utcnow()
    stale_before = now - timedelta(seconds=current_app.config["JOB_REQUEUE_AFTER_SECONDS"])
    expired = db.session.execute(
        update(Job)
        .where(Job.status == JobStatus.RUNNING, Job.lease_until < utc_param(now))
        .values(status=JobStatus.QUEUED, lease_until=None, enqueued_at=None, updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    query = (
        select(Job.id, Job.kind)
        .where(
            Job.status == JobStatus.QUEUED,
            or_(Job.enqueued_at.is_(None), Job.enqueued_at < utc_param(stale_before)),
        )
        .order_by(Job.created_at)
        .limit(SWEEP_BATCH_SIZE)
    )
    if db.engine.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    due = db.session.execute(query).all()
    if due:
        db.session.execute(
            update(Job)
            .where(Job.id.in_([row.id for row in due]), Job.status == JobStatus.QUEUED)
            .values(enqueued_at=utc_param(now), updated_at=now)
            .execution_options(synchronize_session=False)
        )
    db.session.commit()
    failures = sum(not enqueue(row.id, KINDS[row.kind]) for row in due)
    report = SweepReport(
        requeued=len(due),
        expired_leases=expired,
        publish_failures=failures,
        webhooks_republished=webhooks.sweep_missed(),
    )
    if due or expired:
        log.info("job sweep: %s", report)
    return report


def purge_idempotency_keys() -> int:
    """Forget Idempotency-Keys older than IDEMPOTENCY_TTL_HOURS so they can be used again."""
    cutoff = utcnow() - timedelta(hours=current_app.config["IDEMPOTENCY_TTL_HOURS"])
    purged = db.session.execute(
        update(Job)
        .where(Job.idempotency_key.is_not(None), Job.created_at < utc_param(cutoff))
        .values(idempotency_key=None, request_fingerprint=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    return purged


def counts_by_kind_and_status() -> list[tuple[str, str, int]]:
    rows = db.session.execute(
        select(Job.kind, Job.status, func.count()).group_by(Job.kind, Job.status)
    ).all()
    return [(kind, status, count) for kind, status, count in rows]
