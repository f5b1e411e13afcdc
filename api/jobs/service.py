"""Reading and canceling jobs (the API side of the pipeline).

Polls are lean: one SELECT on an autocommit connection (`api.database.reader`), no
transaction. Visibility: a job submitted by a signed-in user is theirs (and admins'); an
anonymous job is visible to whoever holds its id; anyone else gets 404, as if it did not exist.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from flask import current_app
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


class WaiterSlots:
    """How many long-polls this process holds, in all and per caller. A waiter beyond either
    bound is answered at once, never queued behind other requests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._total = 0
        self._by_caller: Counter[str] = Counter()

    @contextmanager
    def hold(self, scope: str) -> Iterator[bool]:
        config = current_app.config
        with self._lock:
            granted = (
                self._total < config["LONG_POLL_MAX_WAITERS"]
                and self._by_caller[scope] < config["LONG_POLL_MAX_WAITERS_PER_CALLER"]
            )
            if granted:
                self._total += 1
                self._by_caller[scope] += 1
        try:
            yield granted
        finally:
            if granted:
                with self._lock:
                    self._total -= 1
                    self._by_caller[scope] -= 1
                    if not self._by_caller[scope]:
                        del self._by_caller[scope]


WAITERS = WaiterSlots()


def wait_for_terminal(job_id: uuid.UUID, caller: Caller, seconds: float) -> tuple[Job, bool]:
    """Long-poll: the job as soon as it is terminal, or as it stands after `seconds`; the flag
    is False when no waiting slot was free (the job as it stands now, at once)."""
    job = get_visible(job_id, caller)
    if job.is_terminal:
        return job, True
    with WAITERS.hold(caller.scope) as granted:
        if not granted:
            return job, False
        deadline = time.monotonic() + seconds
        while not job.is_terminal and time.monotonic() < deadline:
            time.sleep(min(LONG_POLL_INTERVAL_SECONDS, max(0.0, deadline - time.monotonic())))
            job = get_visible(job_id, caller)
    return job, True


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
