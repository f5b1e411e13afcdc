"""Units of work: one transaction per request and per job outcome, and what happens after it.

The rules this module enforces for every caller:

* Services never commit. The owner of a unit of work does: the request (committed by an
  `after_request` hook when the answer is a success, rolled back otherwise), a job attempt
  (`api.jobs.lifecycle`), a periodic task or CLI command (:func:`unit_of_work`). A commit from
  anywhere else during a request raises, so a rejected request (4xx) can never have written.
* Side effects that must follow a commit (Celery publishes, cache invalidations, waking
  waiters) are registered with :func:`on_commit`; they run after the commit and are dropped on
  rollback, as warehouse's after-commit hooks do.
* Lean reads (one SELECT, no BEGIN/ROLLBACK round trips) use :func:`read_row` on an autocommit
  connection; it takes SELECT statements only, so no write can escape a rollback.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from functools import lru_cache
from typing import Any, cast

from flask import Flask, Response, current_app, g, has_request_context
from sqlalchemy import Insert, Select, bindparam, event, func, insert, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import CursorResult, Engine, Row
from sqlalchemy.exc import (
    DBAPIError,
    DisconnectionError,
    IntegrityError,
    InterfaceError,
    OperationalError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, SessionTransaction, make_transient_to_detached
from sqlalchemy.sql import Executable

from api.errors import problem, statement_refused
from api.extensions import db

log = logging.getLogger(__name__)

ON_COMMIT = "on_commit"  # session.info keys
ON_END = "on_end"
COMMIT_REFUSED = "commit_refused"  # why commits are refused (a job handler is running)


class CommitRefused(RuntimeError):
    """A service tried to commit a unit of work it does not own."""


# --- after-commit callbacks ----------------------------------------------------------------


def on_commit(callback: Callable[[], Any], session: Session | None = None) -> None:
    """Run `callback` once the current unit of work commits; drop it if it rolls back."""
    (session or db.session()).info.setdefault(ON_COMMIT, []).append(callback)


def on_end(callback: Callable[[], Any], session: Session | None = None) -> None:
    """Run `callback` when the current unit of work ends, committed or not (releasing locks
    or markers held for its duration)."""
    (session or db.session()).info.setdefault(ON_END, []).append(callback)


def _run(callbacks: list[Callable[[], Any]]) -> None:
    for callback in callbacks:
        try:
            callback()
        except Exception:  # the transaction is over: a failed follow-up must not undo it
            log.exception("after-commit callback %r failed", callback)


def _after_commit(session: Session) -> None:
    _run(session.info.pop(ON_COMMIT, []))


def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is not None:  # a savepoint or subtransaction, not the unit of work
        return
    session.info.pop(ON_COMMIT, None)  # still here: the transaction did not commit
    _run(session.info.pop(ON_END, []))


def _before_commit(session: Session) -> None:
    refused = session.info.get(COMMIT_REFUSED)
    if refused is None and has_request_context() and not g.get("_committing_request"):
        refused = "during a request only the request commits (api.database)"
    if refused:
        raise CommitRefused(f"commit refused: {refused}")


def finish(session: Session, success: bool) -> None:
    """End the unit of work: commit if `success`, else roll back; callbacks run either way
    (even when no statement was executed, so no transaction was ever begun)."""
    if session.in_transaction():
        if success:
            session.commit()
        else:
            session.rollback()
        return
    if success:
        _run(session.info.pop(ON_COMMIT, []))
    session.info.pop(ON_COMMIT, None)
    _run(session.info.pop(ON_END, []))


@contextmanager
def unit_of_work() -> Iterator[Session]:
    """A unit of work outside requests (periodic tasks, CLI commands): committed when the
    block succeeds, rolled back when it raises."""
    session = db.session()
    try:
        yield session
    except BaseException:
        finish(session, success=False)
        raise
    finish(session, success=True)


@contextmanager
def commits_refused(reason: str) -> Iterator[None]:
    """Refuse commits while the block runs (a job handler: the lifecycle commits its rows)."""
    session = db.session()
    session.info[COMMIT_REFUSED] = reason
    try:
        yield
    finally:
        session.info.pop(COMMIT_REFUSED, None)


@contextmanager
def commits_allowed() -> Iterator[Session]:
    """Let the owner of the unit of work commit inside a `commits_refused` block."""
    session = db.session()
    refused = session.info.pop(COMMIT_REFUSED, None)
    try:
        yield session
    finally:
        if refused is not None:
            session.info[COMMIT_REFUSED] = refused


# --- new rows in one round trip ------------------------------------------------------------


def writes_in_ctes(dialect: Any) -> bool:
    """The database runs INSERT/UPDATE inside WITH (PostgreSQL; not SQLite, the embedded
    default), so several writes can be one statement."""
    return bool(dialect.name == "postgresql")


def insert_new(*instances: Any) -> None:
    """Write new rows in ONE statement (every row but the last a data-modifying CTE of the
    last INSERT; on SQLite one statement per row) in the current unit of work, and attach them
    to the session as if loaded.

    The ORM's flush would cost a round trip per table plus its unit-of-work bookkeeping; a
    job submission pays that on every request. PostgreSQL checks foreign keys at the end of
    the statement, so a row may reference another written with it. Python-side defaults are
    computed here and set on the objects, so reading them back costs nothing; a column left
    to a server default is expired (loaded on first access). An instance that holds related
    objects (whose keys only the flush can set) is flushed the ORM's way, in the order given.
    """
    session = db.session()
    if any(_holds_related(instance) for instance in instances):
        for instance in instances:
            session.add(instance)
            session.flush()
        return
    rows = [_new_row(instance) for instance in instances]
    connection = session.connection()
    statements = _insert_statements(
        tuple((type(i), tuple(row)) for i, row in zip(instances, rows, strict=True)),
        together=writes_in_ctes(connection.dialect),
    )
    parameters = {f"r{n}_{key}": value for n, row in enumerate(rows) for key, value in row.items()}
    for statement in statements:  # each takes its own rows' parameters
        connection.execute(statement, parameters)
    for instance in instances:
        make_transient_to_detached(instance)
        session.add(instance)


@lru_cache(maxsize=64)
def _insert_statements(
    shape: tuple[tuple[type[Any], tuple[str, ...]], ...], together: bool
) -> tuple[Insert, ...]:
    """The statements for one shape (models and the columns given), with bound parameters:
    built and compiled once, where values written into a statement cost a coercion and a cache
    key per value on every call. `together`: one statement (PostgreSQL's data-modifying CTEs);
    otherwise one per row, in order (SQLite, the embedded default, has no such CTEs)."""
    statements = []
    for number, (model, keys) in enumerate(shape):
        columns = sa_inspect(model).columns
        statements.append(
            insert(model).values(
                {key: bindparam(f"r{number}_{key}", type_=columns[key].type) for key in keys}
            )
        )
    if not together:
        return tuple(statements)
    statement = statements[-1]
    for number, earlier in enumerate(statements[:-1]):
        statement = statement.add_cte(earlier.cte(f"new_row_{number}"))
    return (statement,)


def _holds_related(instance: Any) -> bool:
    return any(key in instance.__dict__ for key in _columns_of(instance)[1])


ColumnPlan = tuple[tuple[tuple[str, Callable[[], Any] | None, bool], ...], tuple[str, ...]]
_COLUMN_PLANS: dict[type[Any], ColumnPlan] = {}


def _columns_of(instance: Any) -> ColumnPlan:
    """Per model, once: each column's attribute key, the Python default to call when the object
    holds no value (None: NULL), and whether the database fills it; the relationship keys."""
    plan = _COLUMN_PLANS.get(type(instance))
    if plan is None:
        plan = _COLUMN_PLANS[type(instance)] = _column_plan(sa_inspect(type(instance)))
    return plan


def _column_plan(mapper: Any) -> ColumnPlan:
    columns = []
    for attribute in mapper.column_attrs:
        column = attribute.columns[0]
        default: Callable[[], Any] | None = None
        if column.default is not None and getattr(column.default, "is_scalar", False):
            default = lambda value=column.default.arg: value  # noqa: E731
        elif column.default is not None and getattr(column.default, "is_callable", False):
            default = lambda call=column.default.arg: call(None)  # noqa: E731 - ctx unused
        columns.append((attribute.key, default, column.server_default is not None))
    return tuple(columns), tuple(relationship.key for relationship in mapper.relationships)


def _new_row(instance: Any) -> dict[str, Any]:
    """The INSERT's values: what the object holds, else its column's Python default (set on
    the object too). A column left NULL is left out (it is NULL without being sent), and so is
    one a server default fills, whose attribute is loaded when first read."""
    row: dict[str, Any] = {}
    held = instance.__dict__
    for key, default, server_fills in _columns_of(instance)[0]:
        if key in held:
            value = held[key]
        elif server_fills and default is None:
            continue
        else:
            value = default() if default is not None else None
            setattr(instance, key, value)
        if value is not None or server_fills:
            row[key] = value
    return row


# --- the request's unit of work -------------------------------------------------------------


def _finish_request(response: Response) -> Response:
    """Commit a successful request's unit of work, roll back any other; a commit that fails
    turns the answer into a clear problem instead of a success that did not happen."""
    if not db.session.registry.has():  # the request never touched the session
        return response
    session = db.session()
    success = response.status_code < 400
    g._committing_request = True
    try:
        finish(session, success)
    except IntegrityError:
        log.warning("commit refused by a constraint", exc_info=True)
        session.rollback()
        return problem(409, "conflict", "A concurrent change conflicts with this request.")
    except DBAPIError:
        log.error("commit failed: the database is unavailable", exc_info=True)
        with suppress(Exception):
            session.rollback()
        return problem(
            503,
            "service_unavailable",
            "The database is unavailable; nothing was saved. Try again shortly.",
            headers={"Retry-After": "5"},
        )
    finally:
        g._committing_request = False
    return response


# --- connections -------------------------------------------------------------------------


def ping_idle_connections(
    engine: Engine, idle_seconds: float, deadline: CallDeadline | None = None
) -> None:
    """Check a pooled connection before use only when it sat idle for `idle_seconds`: the
    database may have restarted meanwhile. A busy pool pays no round trip per checkout (what
    `pool_pre_ping` would cost); a connection that broke while in use fails its request with a
    503 and the pool is renewed."""

    @event.listens_for(engine, "checkout")
    def ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        last_used = record.info.get("last_used")
        if last_used is not None and time.monotonic() - last_used > idle_seconds:
            try:
                if deadline is not None:
                    deadline.arm(dbapi_connection)
                engine.dialect.do_ping(dbapi_connection)
                dbapi_connection.rollback()  # the ping may have opened a transaction
            except Exception as exc:  # the pool discards it and tries a fresh connection
                raise DisconnectionError("an idle connection no longer answers") from exc
            finally:
                if deadline is not None:
                    deadline.disarm(dbapi_connection)
        record.info["last_used"] = time.monotonic()

    @event.listens_for(engine, "checkin")
    def mark_used(_dbapi_connection: Any, record: Any) -> None:
        record.info["last_used"] = time.monotonic()


class CallDeadline:
    """Cuts the socket of a database call that has waited longer than `seconds`.

    A database that hangs (a stopped process, a stuck network path) still has its kernel
    acknowledge every byte, so neither TCP keepalives nor `statement_timeout` (enforced by the
    hung server itself) end the wait, and psycopg has no client-side read timeout: the request
    or job would wait forever. One watchdog thread per process shuts down the socket of an
    overdue call; psycopg then raises OperationalError (503 for a request, a retry for a job)
    and the pool drops the connection. Armed around every statement, commit, rollback and idle
    ping, so it covers every caller of the engine, never the time a connection sits idle."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._reset()
        _DEADLINES.add(self)

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._armed: dict[int, tuple[float, int, weakref.ref[Any]]] = {}
        self._thread: threading.Thread | None = None

    @contextmanager
    def suspended(self) -> Iterator[None]:
        """No deadline meanwhile, for this process: migrations, whose one DDL statement (an
        index on a large table) may rightly take longer than any request should."""
        seconds, self.seconds = self.seconds, math.inf
        try:
            yield
        finally:
            self.seconds = seconds

    @staticmethod
    def _raw(connection: Any) -> Any:
        """The psycopg connection behind a pool proxy (what the dialect's calls may get)."""
        return getattr(connection, "dbapi_connection", None) or connection

    def arm(self, dbapi_connection: Any) -> None:
        dbapi_connection = self._raw(dbapi_connection)
        try:
            fileno = int(dbapi_connection.fileno())
        except Exception:  # closed or broken already: the call fails on its own
            return
        with self._lock:
            deadline = time.monotonic() + self.seconds
            self._armed[id(dbapi_connection)] = (deadline, fileno, weakref.ref(dbapi_connection))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._watch, name="database-call-deadline", daemon=True
                )
                self._thread.start()

    def disarm(self, dbapi_connection: Any) -> None:
        dbapi_connection = self._raw(dbapi_connection)
        with self._lock:
            self._armed.pop(id(dbapi_connection), None)

    def bounded(self, call: Callable[[Any], None]) -> Callable[[Any], None]:
        """`call(dbapi_connection)` under the deadline (commit, rollback)."""

        def bounded_call(dbapi_connection: Any) -> None:
            self.arm(dbapi_connection)
            try:
                call(dbapi_connection)
            finally:
                self.disarm(dbapi_connection)

        return bounded_call

    def _watch(self) -> None:
        tick = min(0.5, self.seconds / 4)
        while True:
            time.sleep(tick)
            now = time.monotonic()
            with self._lock:
                overdue = [key for key, (deadline, _, _) in self._armed.items() if deadline <= now]
                cut = [self._armed.pop(key) for key in overdue]
            for _, fileno, ref in cut:
                connection = ref()
                # Only the socket still behind that connection (never a reused descriptor).
                if connection is None or connection.closed or connection.fileno() != fileno:
                    continue
                log.warning("database call overdue after %.0f s: connection cut", self.seconds)
                with suppress(OSError):
                    sock = socket.socket(fileno=os.dup(fileno))
                    sock.shutdown(socket.SHUT_RDWR)
                    sock.close()


_DEADLINES: weakref.WeakSet[CallDeadline] = weakref.WeakSet()


def _reset_deadlines_in_child() -> None:
    """After a fork (a prefork worker's child): no watchdog thread came along, start afresh."""
    for deadline in list(_DEADLINES):
        deadline._reset()


os.register_at_fork(after_in_child=_reset_deadlines_in_child)


def bound_database_calls(engine: Engine, seconds: float) -> CallDeadline | None:
    """Install a CallDeadline on a PostgreSQL engine (0 turns it off): around each statement
    (engine events) and each commit and rollback (the dialect's own, which the pool's reset on
    checkin uses too)."""
    if seconds <= 0 or engine.dialect.name != "postgresql":
        return None
    deadline = CallDeadline(seconds)

    def arm_connection(connection: Any, *_args: Any) -> None:
        with suppress(Exception):  # an invalidated connection: nothing to wait on
            deadline.arm(connection.connection.dbapi_connection)

    def disarm_connection(connection: Any, *_args: Any) -> None:
        with suppress(Exception):
            deadline.disarm(connection.connection.dbapi_connection)

    def disarm_context(context: Any) -> None:
        with suppress(Exception):
            deadline.disarm(context.connection.connection.dbapi_connection)

    event.listen(engine, "before_cursor_execute", arm_connection)
    event.listen(engine, "after_cursor_execute", disarm_connection)
    event.listen(engine, "handle_error", disarm_context)
    dialect = engine.dialect
    for name in ("do_commit", "do_rollback"):
        setattr(dialect, name, deadline.bounded(getattr(dialect, name)))
    return deadline


def database_unavailable(exc: BaseException) -> bool:
    """True when `exc` says the database could not be reached (down, restarting, pool empty),
    not that it refused a statement: such work is worth retrying once the database answers."""
    if isinstance(exc, OperationalError | InterfaceError | PoolTimeout):
        return not statement_refused(exc)
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


# --- lean reads --------------------------------------------------------------------------


def _autocommit_engine() -> Engine:
    engine = current_app.extensions.get("autocommit_engine")
    if engine is None:  # shares the pool; connections are switched to autocommit on checkout
        engine = db.engine.execution_options(isolation_level="AUTOCOMMIT")
        current_app.extensions["autocommit_engine"] = engine
    return engine


def read_row(statement: Select[Any], parameters: dict[str, Any]) -> Row[Any] | None:
    """One row (or None) of a SELECT on an autocommit connection: one round trip, no BEGIN or
    ROLLBACK. Only a SELECT gets through, so no write can escape a unit of work this way."""
    if not isinstance(statement, Select):
        raise TypeError("read_row runs SELECT statements only")
    with _autocommit_engine().connect() as connection:
        return connection.execute(statement, parameters).first()


def autocommit_execute(statement: Executable, parameters: dict[str, Any] | None = None) -> Any:
    """Run ONE statement as its own transaction on an autocommit connection: one round trip
    (no BEGIN, no COMMIT) for a write that is a unit of work by itself (a job's claim)."""
    with _autocommit_engine().connect() as connection:
        return connection.execute(statement, parameters)


def affected(statement: Executable) -> int:
    """Run a DML statement in the unit of work; how many rows it changed."""
    result = db.session.execute(statement, execution_options={"synchronize_session": False})
    return int(cast("CursorResult[Any]", result).rowcount)


def count_by(column: Any) -> dict[str, int]:
    """Rows counted per value of `column` (e.g. a status)."""
    rows = db.session.execute(select(column, func.count()).group_by(column)).all()
    return {value: count for value, count in rows}  # noqa: C416 - rows are Row objects


def init_app(app: Flask) -> None:
    """Install the listeners (once per process) and the request's commit hook.

    Call last in `create_app()`: Flask runs `after_request` hooks in reverse order, so the
    commit runs first and the other hooks (metrics, headers) see its outcome.
    """
    if not event.contains(Session, "after_commit", _after_commit):
        event.listen(Session, "after_commit", _after_commit)
        event.listen(Session, "after_transaction_end", _after_transaction_end)
        event.listen(Session, "before_commit", _before_commit)
    app.after_request(_finish_request)
