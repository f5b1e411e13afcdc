"""The lifecycle every job shares: claim, run the handler, write the outcome, retry or give up.

A handler is a plain function `handler(run) -> result` in a feature's service module. It reads,
calls outside services, and adds and flushes its rows; it never commits. The lifecycle commits
the handler's rows together with the terminal status in one transaction, fenced by the attempt
number it claimed: if the job was canceled or taken over meanwhile, everything is rolled back.
So a worker that dies before the terminal commit leaves nothing behind, and the next attempt
starts from what was last committed.

Outcomes a handler signals:
* return a result: `succeeded`, with the handler's rows.
* raise `JobFailed(code, message)`: `failed` at once (no retry), with the handler's rows (they
  describe the failure, e.g. a media row marked failed).
* raise `IntegrationError`: retried with backoff and jitter when `retryable` (the handler's rows
  are rolled back), else `failed`.
* anything else: `failed` with `internal_error`, the handler's rows rolled back.

A handler may instead hand the lifecycle an UPDATE to make with the outcome
(`write_with_outcome`): on PostgreSQL it joins the fenced outcome statement, and a handler that
reads only what it declared with `claim_read` (fetched in the claim's statement) and writes
only this way costs its job two statements and no transaction (claim, outcome), as an
inquiry's email does.

A handler that must record progress before going on (e.g. each email sent through a provider
that cannot deduplicate) calls `save_progress(run)`, which commits under the same fence.

While the handler runs, the attempt's lease is renewed every third of JOB_LEASE_SECONDS (by
one renewer thread per worker process, for all the attempts it holds), so the lease can be
short: a worker that dies (SIGKILL, lost host) stops renewing, and the sweeper hands the job
on within a lease plus a sweep. The database being unreachable is never
an outcome: a claim that cannot reach it is retried in place with backoff (1 to 8 s), and an
attempt that lost it (in the handler or at its commit) is put back in the queue once the
database answers; the message is never acked with the job left behind.
"""

from __future__ import annotations

import collections
import contextvars
import functools
import itertools
import logging
import math
import os
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar, cast

import structlog
from celery import Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded
from flask import current_app
from sqlalchemy import (
    Table,
    Update,
    Uuid,
    and_,
    bindparam,
    case,
    exists,
    func,
    or_,
    select,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.engine import Engine
from sqlalchemy.sql import Executable

from api.database import (
    autocommit_execute,
    commits_allowed,
    commits_refused,
    database_unavailable,
    read_row,
    writes_in_ctes,
)
from api.extensions import db
from api.integrations.errors import IntegrationError
from api.jobs import events, webhooks
from api.jobs.errors import JobFailed, JobSuperseded
from api.jobs.kinds import JobKind
from api.jobs.models import TERMINAL_STATUSES, Job, JobStatus
from api.models import UTCDateTime, utc_param, utcnow
from api.telemetry import JOB_OUTCOMES, JOB_QUEUE_WAIT, JOB_RUN_TIME

log = logging.getLogger(__name__)
T = TypeVar("T")
transitions = structlog.get_logger("api.jobs")


@dataclass
class JobRun:
    """What a worker holds while it runs one attempt of a job."""

    id: uuid.UUID
    kind: str
    payload: dict[str, Any]
    attempt: int
    owner_id: uuid.UUID | None = None
    progress: dict[str, Any] = field(default_factory=dict)
    has_callback: bool = False  # a terminal outcome records a webhook delivery
    claimed_at: float = field(default_factory=time.monotonic)
    # The handler's writes made with the next outcome (`write_with_outcome`).
    with_outcome: list[tuple[Update, dict[str, Any]]] = field(default_factory=list)


Handler = Callable[[JobRun], dict[str, Any]]


# The statements every job runs, built once: building one is most of a millisecond of
# SQLAlchemy work (clauses, coercions, its cache key), more than its round trip costs.
_CLAIM = (
    update(Job)
    .where(
        Job.id == bindparam("claim_id"),
        or_(
            Job.status == JobStatus.QUEUED,
            and_(
                Job.status == JobStatus.RUNNING,
                Job.lease_until < bindparam("claim_now", type_=UTCDateTime()),
            ),
        ),
    )
    .values(
        status=JobStatus.RUNNING,
        attempts=Job.attempts + 1,
        version=Job.version + 1,
        lease_until=bindparam("claim_lease_until", type_=UTCDateTime()),
        started_at=func.coalesce(Job.started_at, bindparam("claim_now", type_=UTCDateTime())),
        updated_at=bindparam("claim_now", type_=UTCDateTime()),
    )
    .returning(
        Job.kind,
        Job.payload,
        Job.progress,
        Job.attempts,
        Job.owner_id,
        Job.version,
        Job.callback_url,
        Job.request_id,
        Job.enqueued_at,
        Job.created_at,
    )
)


class ClaimRead:
    """A row that handlers read by an id in their job's payload (`payload_key`), fetched with
    the claim, in its statement (on PostgreSQL): the job pays one round trip less.

    `read(key)` answers the row the current attempt's claim found for that key, once; any
    other read (no such row, a later attempt, SQLite, outside a job) is an autocommit SELECT
    (`read_row`). Only a first attempt keeps what its claim found: the claim's snapshot is
    its statement's start, and a claim that waited on the job's row for an earlier attempt's
    outcome would read that attempt's writes as they were before it."""

    def __init__(self, table: Table, payload_key: str) -> None:
        self.table = table
        self.payload_key = payload_key
        self.statement = select(*table.c).where(table.c.id == bindparam("read_id"))
        self.row_type = collections.namedtuple(  # type: ignore[misc]
            f"{table.name}_row", [column.key for column in table.c]
        )

    def read(self, key: uuid.UUID) -> Any | None:
        fetched = _claimed_rows.get()
        if fetched is not None and (self, key) in fetched:
            return fetched.pop((self, key))
        return read_row(self.statement, {"read_id": key})


_CLAIM_READS: list[ClaimRead] = []
# The rows the current attempt's claim found, by (read, key) (set by `claim`).
_claimed_rows: contextvars.ContextVar[dict[tuple[ClaimRead, uuid.UUID], Any] | None] = (
    contextvars.ContextVar("claimed_rows", default=None)
)


def claim_read(table: Table, payload_key: str) -> ClaimRead:
    """Declare (at import) a row to fetch with every claim whose payload has `payload_key`."""
    found = ClaimRead(table, payload_key)
    _CLAIM_READS.append(found)
    return found


@functools.cache
def _claim_with_reads(reads: tuple[ClaimRead, ...]) -> Executable:
    """The claim as a CTE, each declared read LEFT JOINed by the payload's id (labels
    `r<i>_<column>`; `r<i>_id` NULL when nothing joined), built once per set of reads."""
    claimed = _CLAIM.cte("claimed")
    columns: list[Any] = [claimed]
    joined: Any = claimed
    for index, read in enumerate(reads):
        table = read.table.alias(f"r{index}")
        key = claimed.c.payload[read.payload_key].as_string()
        # A payload value that is not a UUID joins nothing instead of failing the cast.
        wanted = case((key.regexp_match(_UUID_PATTERN), sql_cast(key, Uuid)), else_=None)
        joined = joined.outerjoin(table, table.c.id == wanted)
        columns.extend(column.label(f"r{index}_{column.key}") for column in table.c)
    return select(*columns).select_from(joined)


_UUID_PATTERN = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"


def _keep_claimed_rows(row: Any, reads: tuple[ClaimRead, ...]) -> None:
    """What a first attempt's claim found, by (read, key): rows found only (a miss is asked
    again, by `ClaimRead.read`)."""
    payload = row.payload
    fetched: dict[tuple[ClaimRead, uuid.UUID], Any] = {}
    if row.attempts == 1 and isinstance(payload, dict):
        for index, read in enumerate(reads):
            key = getattr(row, f"r{index}_id")
            if key is not None:
                values = [getattr(row, f"r{index}_{column.key}") for column in read.table.c]
                fetched[(read, key)] = read.row_type(*values)
    _claimed_rows.set(fetched)


def claim(job_id: uuid.UUID) -> JobRun | None:
    """Take the job for one attempt, or None when it is finished or a live worker has it.

    One conditional UPDATE, committed by itself (an autocommit statement: one round trip),
    with the rows its handler will read (`claim_read`) on PostgreSQL."""
    now = utcnow()
    lease = timedelta(seconds=current_app.config["JOB_LEASE_SECONDS"])
    reads = tuple(_CLAIM_READS) if writes_in_ctes(db.engine.dialect) else ()
    _claimed_rows.set(None)
    row = autocommit_execute(
        _claim_with_reads(reads) if reads else _CLAIM,
        {"claim_id": job_id, "claim_now": now, "claim_lease_until": now + lease},
    ).one_or_none()
    if row is None:
        return None
    if reads:
        _keep_claimed_rows(row, reads)
    events.notify(job_id, row.version)
    # Every line this attempt logs says which job, and which request submitted it.
    structlog.contextvars.bind_contextvars(
        job_id=str(job_id), job_kind=row.kind, attempt=row.attempts, request_id=row.request_id
    )
    waited = max(0.0, (now - min(row.enqueued_at or row.created_at, now)).total_seconds())
    JOB_QUEUE_WAIT.labels(row.kind).observe(waited)
    transitions.info("job.claimed", queue_wait_ms=round(waited * 1000, 1))
    return JobRun(
        id=job_id,
        kind=row.kind,
        payload=row.payload,
        attempt=row.attempts,
        owner_id=row.owner_id,
        progress=dict(row.progress or {}),
        has_callback=row.callback_url is not None and row.owner_id is not None,
    )


@functools.cache
def _fenced_update(columns: tuple[str, ...]) -> Update:
    """The fenced UPDATE setting `columns` (bound as `set_<column>`), built once per set."""
    table = Job.__table__
    return (
        update(Job)
        .where(
            Job.id == bindparam("fence_id"),
            Job.status == JobStatus.RUNNING,
            Job.attempts == bindparam("fence_attempt"),
        )
        .values(
            version=Job.version + 1,
            **{name: bindparam(f"set_{name}", type_=table.c[name].type) for name in columns},
        )
        .returning(Job.version)
    )


def write_with_outcome(run: JobRun, statement: Update, parameters: dict[str, Any]) -> None:
    """Make `statement` (an UPDATE of the handler's rows, built once, with parameter names of
    its own) part of the attempt's next outcome write, in its statement on PostgreSQL, and only
    if the attempt still holds the job. A handler that reads with `read_row` and writes only
    this way costs its job no transaction: the outcome is one autocommit statement (no BEGIN,
    no COMMIT, no flush)."""
    run.with_outcome.append((statement, parameters))


@functools.cache
def _outcome_statement(columns: tuple[str, ...], companions: tuple[Update, ...]) -> Executable:
    """The fenced UPDATE, with the handler's writes as data-modifying CTEs that change rows
    only when the fence held (`EXISTS` on the outcome's RETURNING)."""
    fenced = _fenced_update(columns)
    if not companions:
        return fenced
    outcome = fenced.cte("outcome")
    held = exists(select(outcome.c.version))
    statement = select(outcome.c.version).add_cte(outcome)
    for number, companion in enumerate(companions):
        statement = statement.add_cte(companion.where(held).cte(f"with_outcome_{number}"))
    return statement


def _fenced(run: JobRun, alone: bool, **values: Any) -> int | None:
    """Write to the job only if this attempt still holds it (not canceled, not taken over);
    the job's new version, or None when the write was fenced out.

    `alone`: the unit of work holds nothing else, so the write is one autocommit statement.
    Otherwise on the unit of work's connection (its transaction), after flushing the handler's
    rows, as the ORM's autoflush did; Core, so without the ORM's bulk-update machinery."""
    values.setdefault("updated_at", utcnow())
    columns = tuple(sorted(values))
    parameters = {"fence_id": run.id, "fence_attempt": run.attempt}
    parameters.update({f"set_{name}": values[name] for name in columns})
    companions, run.with_outcome = run.with_outcome, []
    for _, own in companions:
        parameters.update(own)
    statement = _outcome_statement(columns, tuple(write for write, _ in companions))
    if alone:
        return cast("int | None", autocommit_execute(statement, parameters).scalar_one_or_none())
    db.session.flush()
    connection = db.session.connection()
    if not writes_in_ctes(connection.dialect):  # SQLite: the writes follow the fenced UPDATE
        version = connection.execute(_fenced_update(columns), parameters).scalar_one_or_none()
        if version is not None:
            for write, own in companions:
                connection.execute(write, own)
        return cast("int | None", version)
    return cast("int | None", connection.execute(statement, parameters).scalar_one_or_none())


def _holds_nothing() -> bool:
    """The job's unit of work has begun no transaction and holds no change: its outcome can be
    written by one statement of its own (PostgreSQL: with the handler's writes as CTEs)."""
    session = db.session()
    if session.in_transaction() or session.new or session.dirty or session.deleted:
        return False
    return writes_in_ctes(db.engine.dialect)


def _commit_outcome(run: JobRun, code: str = "", **values: Any) -> bool:
    """The attempt's outcome and the handler's rows in one commit (or one autocommit statement
    when that is all there is), or nothing if the fence fails. A terminal status also records
    the webhook delivery (published after the commit); waiters are told once it is committed."""
    records_webhook = values.get("status") in TERMINAL_STATUSES and run.has_callback
    alone = not records_webhook and _holds_nothing()
    version = _fenced(run, alone, **values)
    if version is None:
        db.session.rollback()
        log.info("job %s attempt %s no longer holds the job; outcome dropped", run.id, run.attempt)
        _record(run, "superseded")
        return False
    if alone:
        events.notify(run.id, version)
    else:
        if records_webhook:
            webhooks.record_terminal_event(run.id)
        events.notify_after_commit(run.id, version)
        with commits_allowed():
            db.session.commit()
    outcome = OUTCOMES.get(values.get("status"))
    if outcome is not None:
        _record(run, outcome, code)
    return True


OUTCOMES: dict[Any, str] = {
    JobStatus.SUCCEEDED: "succeeded",
    JobStatus.FAILED: "failed",
    JobStatus.QUEUED: "retried",
}


def _record(run: JobRun, outcome: str, code: str = "") -> None:
    """The attempt's transition in the metrics and the log (one line per transition)."""
    seconds = time.monotonic() - run.claimed_at
    JOB_OUTCOMES.labels(run.kind, outcome, code).inc()
    JOB_RUN_TIME.labels(run.kind).observe(seconds)
    transitions.info(f"job.{outcome}", run_ms=round(seconds * 1000, 1), code=code or None)


def save_progress(run: JobRun) -> None:
    """Commit the handler's progress so far and renew the lease; raises JobSuperseded when
    this attempt no longer holds the job (stop working on it)."""
    lease = timedelta(seconds=current_app.config["JOB_LEASE_SECONDS"])
    if not _commit_outcome(run, progress=dict(run.progress), lease_until=utcnow() + lease):
        raise JobSuperseded


def complete(run: JobRun, result: dict[str, Any]) -> bool:
    return _commit_outcome(
        run,
        status=JobStatus.SUCCEEDED,
        result=result,
        progress=dict(run.progress),
        finished_at=utcnow(),
        lease_until=None,
    )


def fail(run: JobRun, code: str, message: str) -> bool:
    return _commit_outcome(
        run,
        code,
        status=JobStatus.FAILED,
        error_code=code,
        error_message=message[:500],
        progress=dict(run.progress),
        finished_at=utcnow(),
        lease_until=None,
    )


def schedule_retry(run: JobRun, delay_seconds: float, code: str) -> bool:
    """Put the job back in the queue (because of `code`); `enqueued_at` is the retry's due
    time."""
    return _commit_outcome(
        run,
        code,
        status=JobStatus.QUEUED,
        progress=dict(run.progress),
        lease_until=None,
        enqueued_at=utcnow() + timedelta(seconds=delay_seconds),
    )


def backoff_seconds(attempt: int) -> float:
    """Exponential backoff with "equal jitter": half fixed, half random."""
    base = current_app.config["JOB_RETRY_BASE_SECONDS"]
    ceiling = min(current_app.config["JOB_RETRY_MAX_SECONDS"], base * 2 ** (attempt - 1))
    return float(ceiling / 2 + random.uniform(0, ceiling / 2))


def _discard_handler_rows(run: JobRun) -> None:
    """The handler's rows are not part of the outcome: those flushed and those kept for it."""
    db.session.rollback()
    run.with_outcome.clear()


def _retry_or_fail(task: Task, run: JobRun, code: str, message: str) -> None:
    _discard_handler_rows(run)  # the failed attempt's rows are not part of any outcome
    if run.attempt >= current_app.config["JOB_MAX_ATTEMPTS"]:
        fail(run, code, f"{message} (gave up after {run.attempt} attempts)")
        return
    delay = backoff_seconds(run.attempt)
    log.warning("job %s attempt %s: %s; retrying in %.1fs", run.id, run.attempt, code, delay)
    if schedule_retry(run, delay, code):
        raise task.retry(countdown=delay, max_retries=None)


def execute(task: Task, job_id: uuid.UUID, handler: Handler) -> None:
    """One attempt of a job, from claim to its committed outcome."""
    try:
        _execute(task, job_id, handler)
    finally:
        structlog.contextvars.clear_contextvars()


DATABASE_RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0)  # then 8 s apiece


def _when_the_database_answers(
    task: Task, job_id: uuid.UUID, what: str, work: Callable[[], T]
) -> T:
    """`work()`, tried again while the database cannot be reached, with backoff (1, 2, 4, then
    8 s) within half the task's soft time limit (the rest is for the work); when that runs out
    the task is re-published (`task.retry`), so its message is replaced, never acked away."""
    budget = float(getattr(task, "soft_time_limit", None) or 60) / 2
    waited = 0.0
    for tries in itertools.count():
        try:
            return work()
        except Exception as exc:
            if not database_unavailable(exc):
                raise
            delay = DATABASE_RETRY_DELAYS[min(tries, len(DATABASE_RETRY_DELAYS) - 1)]
            if waited + delay > budget:
                raise task.retry(countdown=DATABASE_RETRY_DELAYS[-1], max_retries=None) from exc
            waited += delay
            log.warning("job %s: the database is unavailable; %s in %ss", job_id, what, delay)
            time.sleep(delay)
    raise AssertionError("unreachable")  # itertools.count() never ends


def _requeue_when_the_database_answers(task: Task, run: JobRun) -> None:
    """The attempt lost the database: once it answers, put the job back (`queued`, the attempt
    counted) and re-publish it, so it runs again now rather than after its lease."""

    def requeue() -> int | None:
        with suppress(Exception):
            db.session.rollback()
        return autocommit_execute(
            update(Job)
            .where(Job.id == run.id, Job.status == JobStatus.RUNNING, Job.attempts == run.attempt)
            .values(
                status=JobStatus.QUEUED,
                lease_until=None,
                enqueued_at=utc_param(utcnow()),
                updated_at=utcnow(),
                version=Job.version + 1,
            )
            .returning(Job.version)
        ).scalar_one_or_none()

    version = _when_the_database_answers(task, run.id, "requeueing", requeue)
    if version is None:  # canceled meanwhile, or its outcome did commit after all
        return
    events.notify(run.id, version)
    _record(run, "retried", "database_unavailable")
    raise task.retry(countdown=0, max_retries=None)


class LeaseRenewer:
    """One thread per process renews the leases of the attempts this process holds.

    A job's attempt is registered when its handler starts and released when it ends; every
    third of its lease the thread extends the lease (fenced by the attempt). Most jobs end
    long before their first renewal is due, so a job costs a dictionary entry, not a thread
    started and joined. The thread is started by the first attempt a process holds (after a
    prefork worker's fork) and dies with the process, so a dead worker stops renewing."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._cond = threading.Condition()
        # (job id, attempt) -> (engine, lease seconds, when the next renewal is due)
        self._held: dict[tuple[uuid.UUID, int], tuple[Engine, float, float]] = {}
        self._wake_at = math.inf  # when the thread will look next (inf: waiting for work)
        self._thread: threading.Thread | None = None

    @contextmanager
    def held(self, engine: Engine, run: JobRun, seconds: float) -> Iterator[None]:
        """Renew the attempt's lease every third of `seconds` until the block ends."""
        key = (run.id, run.attempt)
        due = time.monotonic() + seconds / 3
        with self._cond:
            self._held[key] = (engine, seconds, due)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._loop, name="job-lease-renewer", daemon=True
                )
                self._thread.start()
            elif due < self._wake_at:
                self._cond.notify()
        try:
            yield
        finally:
            with self._cond:
                self._held.pop(key, None)

    def renew_due(self, now: float) -> None:
        """Renew every lease due by `now` (the next renewal of each is a third later)."""
        with self._cond:
            due = [(key, entry) for key, entry in self._held.items() if entry[2] <= now]
            for key, (engine, seconds, _) in due:
                self._held[key] = (engine, seconds, now + seconds / 3)
        for (job_id, attempt), (engine, seconds, _) in due:
            _renew_lease(engine, job_id, attempt, seconds)

    def _loop(self) -> None:
        while True:
            with self._cond:  # the next due time and the wait under one lock: no lost wake-up
                next_due = min((entry[2] for entry in self._held.values()), default=math.inf)
                timeout = next_due - time.monotonic()
                if timeout > 0:
                    self._wake_at = next_due
                    self._cond.wait(None if next_due == math.inf else timeout)
                    self._wake_at = math.inf
            self.renew_due(time.monotonic())


def _renew_lease(engine: Engine, job_id: uuid.UUID, attempt: int, seconds: float) -> None:
    try:
        with engine.begin() as connection:
            connection.execute(
                update(Job)
                .where(Job.id == job_id, Job.status == JobStatus.RUNNING, Job.attempts == attempt)
                .values(lease_until=utc_param(utcnow() + timedelta(seconds=seconds)))
            )
    except Exception:  # the database is down: the lease may lapse, the fence still holds
        log.warning("job %s: could not renew its lease", job_id, exc_info=True)


LEASES = LeaseRenewer()
os.register_at_fork(after_in_child=LEASES._reset)  # no renewer thread came along with a fork


def _lease_renewed(run: JobRun) -> AbstractContextManager[None]:
    """Renew the attempt's lease every third of JOB_LEASE_SECONDS until the block ends."""
    return LEASES.held(db.engine, run, current_app.config["JOB_LEASE_SECONDS"])


def _execute(task: Task, job_id: uuid.UUID, handler: Handler) -> None:
    run = _when_the_database_answers(task, job_id, "claiming again", lambda: claim(job_id))
    if run is None:
        log.info("job %s: nothing to claim (finished, canceled or held by a live worker)", job_id)
        return
    try:
        with _lease_renewed(run):
            _attempt(task, run, handler)
    except Exception as exc:
        if not database_unavailable(exc):
            raise
        log.warning("job %s attempt %s lost the database", run.id, run.attempt, exc_info=True)
        _requeue_when_the_database_answers(task, run)


def _attempt(task: Task, run: JobRun, handler: Handler) -> None:
    if run.attempt > current_app.config["JOB_MAX_ATTEMPTS"]:
        # Poison job: earlier attempts died with their worker (hard time limit, OOM, SIGKILL).
        fail(run, "too_many_attempts", "The job was interrupted too many times.")
        return
    try:
        with commits_refused("a job handler's rows are committed by the job lifecycle"):
            result = handler(run)
    except JobSuperseded:
        _discard_handler_rows(run)
        _record(run, "superseded")
        return
    except JobFailed as exc:
        fail(run, exc.code, exc.message)
        return
    except IntegrationError as exc:
        if not exc.retryable:
            _discard_handler_rows(run)
            fail(run, exc.code, exc.message)
            return
        _retry_or_fail(task, run, exc.code, exc.message)
        return
    except SoftTimeLimitExceeded:
        _retry_or_fail(task, run, "timeout", "The job ran past its time limit.")
        return
    except Exception as exc:
        if database_unavailable(exc):
            raise  # not the job's fault: it is put back once the database answers
        log.exception("job %s attempt %s crashed", run.id, run.attempt)
        _discard_handler_rows(run)
        fail(run, "internal_error", "An unexpected error stopped this job.")
        return
    complete(run, result)


def job_task(kind: JobKind) -> Callable[[Handler], Task]:
    """Turn a handler into the Celery task for `kind`, with the shared lifecycle."""

    def register(handler: Handler) -> Task:
        @shared_task(  # acks_late and reject_on_worker_lost come from the CELERY settings
            name=kind.task,
            bind=True,
            soft_time_limit=kind.soft_time_limit,
            time_limit=kind.time_limit,
            max_retries=None,
        )
        def run_job(self: Task, job_id: str) -> None:
            execute(self, uuid.UUID(job_id), handler)

        return run_job

    return register
