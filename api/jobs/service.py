"""Reading and canceling jobs (the API side of the pipeline).

Polls are lean: one SELECT on an autocommit connection (`api.database.reader`), no
transaction. Visibility: a job submitted by a signed-in user is theirs (and admins'); an
anonymous job is visible to whoever holds its id; anyone else gets 404, as if it did not exist.
"""

from __future__ import annotations

import time
import uuid

from sqlalchemy import Select, func, select, update

from api.database import affected, reader
from api.errors import Conflict, NotFound
from api.extensions import db
from api.jobs import webhooks
from api.jobs.models import Job, JobStatus
from api.models import utc_param, utcnow
from api.security import Caller

LONG_POLL_INTERVAL_SECONDS = 0.25


def can_view(job: Job, caller: Caller) -> bool:
    return job.owner_id is None or caller.is_admin or job.owner_id == caller.user_id


def get_visible(job_id: uuid.UUID, caller: Caller) -> Job:
    """The job, or 404 both when it does not exist and when it is someone else's."""
    with reader() as session:
        job = session.get(Job, job_id)
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
        time.sleep(min(LONG_POLL_INTERVAL_SECONDS, max(0.0, deadline - time.monotonic())))


def list_for(caller: Caller, kind: str | None, status: str | None) -> Select[Job]:
    query = select(Job).where(Job.owner_id == caller.user_id)
    if kind:
        query = query.where(Job.kind == kind)
    if status:
        query = query.where(Job.status == status)
    return query.order_by(Job.created_at.desc(), Job.id)


def cancel(job_id: uuid.UUID, caller: Caller) -> Job:
    """Cancel a queued or running job (its worker's later writes are fenced out); 409 when it
    already finished."""
    job = db.session.get(Job, job_id)
    if job is None or not can_view(job, caller):
        raise NotFound("No job with this id.")
    now = utcnow()
    canceled = affected(
        update(Job)
        .where(Job.id == job.id, Job.status.in_([JobStatus.QUEUED, JobStatus.RUNNING]))
        .values(
            status=JobStatus.CANCELED, finished_at=utc_param(now), lease_until=None, updated_at=now
        )
    )
    db.session.refresh(job)
    if not canceled:
        raise Conflict(f"The job already finished with status {job.status}.")
    webhooks.record_terminal_event(job.id)
    return job


def counts_by_kind_and_status() -> list[tuple[str, str, int]]:
    rows = db.session.execute(
        select(Job.kind, Job.status, func.count()).group_by(Job.kind, Job.status)
    ).all()
    return [(kind, status, count) for kind, status, count in rows]
