"""Reading and canceling jobs (the API side of the pipeline).

Polls are lean: one SELECT on an autocommit connection (`api.database.read_row`), no
transaction. Visibility: a job submitted by a signed-in user is theirs (and admins'); an
anonymous job is visible to whoever holds its id; anyone else gets 404, as if it did not exist.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from flask import current_app
from sqlalchemy import Select, bindparam, func, select, update

from api.database import read_row
from api.errors import Conflict, NotFound
from api.extensions import db
from api.jobs import events, webhooks
from api.jobs.models import Job, JobStatus
from api.jobs.schemas import JobSchema
from api.models import utc_param, utcnow
from api.security import Caller
from api.telemetry import WAITER_ENDS, WAITING

DISCONNECT_CHECK_SECONDS = 1.0  # how soon a waiter notices its client left


def can_view(job: Job, caller: Caller) -> bool:
    return job.owner_id is None or caller.is_admin or job.owner_id == caller.user_id


# What a client sees of a job (JobSchema's fields), with its owner and version: not its payload,
# progress, lease or webhook target, which are the worker's (less to fetch and decode per poll).
SEEN_BY_CLIENTS = (
    Job.id,
    Job.kind,
    Job.status,
    Job.owner_id,
    Job.version,
    Job.attempts,
    Job.result,
    Job.error_code,
    Job.error_message,
    Job.created_at,
    Job.updated_at,
    Job.started_at,
    Job.finished_at,
)
JOB_BY_ID = select(*SEEN_BY_CLIENTS).where(Job.id == bindparam("job_id"))


def get_visible(job_id: uuid.UUID, caller: Caller) -> Job:
    """The job as its client sees it (`SEEN_BY_CLIENTS`), or 404 both when it does not exist
    and when it is someone else's.

    The hot path of every poll: one SELECT on an autocommit connection, without the ORM's
    identity map and loading machinery (the row becomes a detached `Job`)."""
    row = read_row(JOB_BY_ID, {"job_id": job_id})
    job = None if row is None else Job(**row._mapping)
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

    def full(self, scope: str) -> bool:
        """Whether a new waiter of this caller would be refused now."""
        config = current_app.config
        with self._lock:
            return (
                self._total >= config["LONG_POLL_MAX_WAITERS"]
                or self._by_caller[scope] >= config["LONG_POLL_MAX_WAITERS_PER_CALLER"]
            )

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
        if granted:
            WAITING.inc()
        try:
            yield granted
        finally:
            if granted:
                WAITING.dec()
                with self._lock:
                    self._total -= 1
                    self._by_caller[scope] -= 1
                    if not self._by_caller[scope]:
                        del self._by_caller[scope]


WAITERS = WaiterSlots()


def wait_for_terminal(
    job_id: uuid.UUID, caller: Caller, seconds: float, gone: Callable[[], bool] = lambda: False
) -> tuple[Job, bool]:
    """Long-poll: the job as soon as it is terminal (woken by its change notification), or as
    it stands after `seconds`, or when `gone()` says the client left. The flag is False when no
    waiting slot was free (the job as it stands now, at once)."""
    job = get_visible(job_id, caller)
    if job.is_terminal:
        return job, True
    with WAITERS.hold(caller.scope) as granted:
        if not granted:
            return job, False
        for job in changes(job_id, caller, seconds, gone):
            if job.is_terminal:
                break
    return job, True


def changes(
    job_id: uuid.UUID, caller: Caller, seconds: float, gone: Callable[[], bool]
) -> Iterator[Job]:
    """The job now, then again each time it may have changed, until `seconds` pass or the
    client is gone. Registered before the first read, so no change is missed; no database
    connection is held while waiting."""
    deadline = time.monotonic() + seconds
    with events.waiting(job_id) as (waiter, recheck):
        yield get_visible(job_id, caller)
        next_read = time.monotonic() + recheck
        while True:
            now = time.monotonic()
            if now >= deadline or gone():
                return
            woken = waiter.wait(min(deadline, next_read, now + DISCONNECT_CHECK_SECONDS) - now)
            now = time.monotonic()
            if woken or now >= next_read or now >= deadline:
                job = get_visible(job_id, caller)
                if job.is_terminal:  # what told this waiter: a miss shows as "recheck"
                    WAITER_ENDS.labels(
                        "notification" if woken else "deadline" if now >= deadline else "recheck"
                    ).inc()
                yield job
                next_read = now + recheck


def event_stream(
    job_id: uuid.UUID, caller: Caller, last_event_id: int | None, gone: Callable[[], bool]
) -> tuple[Iterator[str], dict[str, str]]:
    """The job's Server-Sent Events (checked for visibility before the first byte), and the
    response's headers."""
    job = get_visible(job_id, caller)  # 404 now, not inside the stream
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    config = current_app.config
    schema = JobSchema()

    def event(job: Job) -> str:
        return f"id: {job.version}\nevent: job\ndata: {json.dumps(schema.dump(job))}\n\n"

    def stream() -> Iterator[str]:
        yield f"retry: {int(config['SSE_RETRY_MILLISECONDS'])}\n\n"
        newest = -1 if last_event_id is None else last_event_id
        if job.is_terminal:
            if job.version > newest:
                yield event(job)
            return
        with WAITERS.hold(caller.scope) as granted:
            if not granted:
                yield event(job)
                return
            heartbeat = time.monotonic() + config["SSE_HEARTBEAT_SECONDS"]
            for current in changes(job_id, caller, config["SSE_MAX_SECONDS"], gone):
                if current.version > newest:
                    newest = current.version
                    yield event(current)
                    heartbeat = time.monotonic() + config["SSE_HEARTBEAT_SECONDS"]
                elif time.monotonic() >= heartbeat:
                    yield ": keep-alive\n\n"
                    heartbeat = time.monotonic() + config["SSE_HEARTBEAT_SECONDS"]
                if current.is_terminal:
                    return

    if not job.is_terminal and WAITERS.full(caller.scope):
        headers["Retry-After"] = "1"
    return stream(), headers


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
    version = db.session.execute(
        update(Job)
        .where(Job.id == job.id, Job.status.in_([JobStatus.QUEUED, JobStatus.RUNNING]))
        .values(
            status=JobStatus.CANCELED,
            finished_at=utc_param(now),
            lease_until=None,
            updated_at=now,
            version=Job.version + 1,
        )
        .returning(Job.version)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    db.session.refresh(job)
    if version is None:
        raise Conflict(f"The job already finished with status {job.status}.")
    webhooks.record_terminal_event(job.id)
    events.notify_after_commit(job.id, version)
    return job


def counts_by_kind_and_status() -> list[tuple[str, str, int]]:
    rows = db.session.execute(
        select(Job.kind, Job.status, func.count()).group_by(Job.kind, Job.status)
    ).all()
    return [(kind, status, count) for kind, status, count in rows]
