"""Job change notifications: published after each commit that changes a job, and delivered to
the long-polls and event streams waiting on it in every web process.

Each change bumps `jobs.version`; after its commit, `{job_id}:{version}` goes out on the Redis
channel `jobs:changed` (sent by the committing process's `Notifier` thread, in commit order).
Every web process holds ONE subscription (a background thread, or a
greenlet under gevent) and wakes the waiters registered for that job. The database stays the
truth: a woken waiter re-reads the row; pub/sub can lose a message (Redis restart), so a waiter
also re-checks on its own (JOB_EVENTS_RECHECK_SECONDS), and every waiter is woken when the
subscription is (re)established. Without Redis (the embedded mode) waiters poll the row.

Rules a waiter follows (so no wake-up is lost): register first, then read the row, then wait.
"""

from __future__ import annotations

import atexit
import collections
import logging
import os
import threading
import time
import uuid
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

import redis
from flask import current_app

from api.database import on_commit
from api.extensions import redis_client
from api.pubsub import Subscription

log = logging.getLogger(__name__)

CHANNEL = "jobs:changed"
POLL_SECONDS = 0.25  # without Redis: how often a waiter re-reads the row


def notify(job_id: uuid.UUID, version: int) -> None:
    """Tell every waiter of this job that it changed (the change is committed already)."""
    client = redis_client.current
    if client is None:
        return
    extensions = current_app.extensions
    notifier = extensions.get("job_notifier")
    if notifier is None or notifier.client is not client:
        with _notifiers_lock:
            notifier = extensions.get("job_notifier")
            if notifier is None or notifier.client is not client:
                notifier = extensions["job_notifier"] = Notifier(client)
                _notifiers.add(notifier)
    notifier.send(f"{job_id}:{version}")


class Notifier:
    """Publishes a process's job changes from a background thread, in the order they were
    committed (a burst in one pipeline): the worker that committed one goes on to its next job
    instead of waiting for Redis's reply (about a sixth of an email job's time). A change not
    yet sent when the process dies, or that Redis refused, is caught by the waiters' own
    re-check. The thread ends when idle and is started again by the next change (and after a
    fork, or if it died); `send` never raises."""

    IDLE_SECONDS = 5.0

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._reset()

    def _reset(self) -> None:
        self._pending: collections.deque[str] = collections.deque()
        self._ready = threading.Condition(threading.Lock())
        self._thread: threading.Thread | None = None
        self._in_flight = False  # a batch taken and not yet tried

    def send(self, message: str) -> None:
        with self._ready:
            self._pending.append(message)
            if self._thread is not None and self._thread.is_alive():
                self._ready.notify()
                return
            try:
                self._thread = threading.Thread(target=self._run, name="job-notifier", daemon=True)
                self._thread.start()
            except BaseException:  # no thread (the process is at its limit): the next change
                self._thread = None  # tries again; waiters re-check meanwhile
                log.warning("could not start the job notifier", exc_info=True)

    def flush(self, timeout: float) -> bool:
        """Wait until every change handed over so far was tried (True) or `timeout` passes."""
        deadline = time.monotonic() + timeout
        with self._ready:
            while self._pending or self._in_flight:
                left = deadline - time.monotonic()
                if left <= 0 or self._thread is None or not self._thread.is_alive():
                    return False
                self._ready.wait(min(left, 0.1))
        return True

    def _run(self) -> None:
        while True:
            with self._ready:
                if not self._pending:
                    self._ready.wait(self.IDLE_SECONDS)
                if not self._pending:
                    self._thread = None
                    return
                batch = list(self._pending)
                self._pending.clear()
                self._in_flight = True
            try:
                pipeline = self.client.pipeline(transaction=False)
                for message in batch:
                    pipeline.publish(CHANNEL, message)
                pipeline.execute()
            except Exception:  # waiters re-check on their own: a lost wake-up only delays
                log.warning("could not publish %d job change(s)", len(batch), exc_info=True)
            finally:
                with self._ready:
                    self._in_flight = False
                    self._ready.notify_all()  # a flush waiting for this batch


_notifiers: weakref.WeakSet[Notifier] = weakref.WeakSet()  # one per app, gone with it
_notifiers_lock = threading.Lock()


def _forget_notifiers_in_child() -> None:
    """A forked child has none of its parent's threads: its notifiers start afresh."""
    global _notifiers_lock
    _notifiers_lock = threading.Lock()  # a fork while another thread held it
    for notifier in list(_notifiers):
        notifier._reset()


def flush_notifications(timeout: float = 2.0) -> bool:
    """Try every change this process has handed over, within `timeout` in all (a process
    about to exit, tests); True when none is left waiting."""
    deadline = time.monotonic() + timeout
    with _notifiers_lock:
        notifiers = list(_notifiers)
    results = [notifier.flush(max(0.0, deadline - time.monotonic())) for notifier in notifiers]
    return all(results)


os.register_at_fork(after_in_child=_forget_notifiers_in_child)
atexit.register(flush_notifications)  # a CLI sweep's changes leave before the process does


def notify_after_commit(job_id: uuid.UUID, version: int) -> None:
    """Tell every waiter of this job that it changed, once the change is committed."""
    on_commit(lambda: notify(job_id, version))


class Waiter:
    def __init__(self) -> None:
        self.event = threading.Event()

    def wait(self, seconds: float) -> bool:
        """Sleep until woken or `seconds` pass; True when woken (then ready for the next).

        The flag decides, not what `Event.wait` answers: gevent's answers False when the
        timeout fires in the same loop turn as the `set()`, and clearing then would lose that
        wake-up until the slow re-check. The flag is cleared only when it is reported, so a
        wake-up is either reported (the caller re-reads the row, after any commit notified)
        or still pending."""
        self.event.wait(max(0.0, seconds))
        if not self.event.is_set():
            return False
        self.event.clear()
        return True


class Dispatcher:
    """One subscription per process (per Redis URL), waking the waiters of each job."""

    def __init__(self, redis_url: str) -> None:
        self.redis_url = redis_url
        self._lock = threading.Lock()
        self._waiters: dict[str, set[Waiter]] = {}
        self.connected = threading.Event()
        self._subscription = Subscription(
            redis_url,
            CHANNEL,
            self._on_message,
            on_up=self._on_up,
            on_lost=self.connected.clear,
            on_start=self._forget_waiters,
        )

    @property
    def closing(self) -> bool:
        return self._subscription.closing

    def _ensure_started(self) -> None:
        self._subscription.start()

    def _forget_waiters(self) -> None:
        with self._lock:
            self._waiters = {}  # a forked child does not inherit its parent's waiters

    def _on_message(self, data: bytes) -> None:
        self._wake(data.decode().partition(":")[0])

    def _on_up(self) -> None:
        # Only now does Redis deliver to us: a waiter woken before this could re-read its row,
        # then miss a change published before the server had subscribed us.
        self.connected.set()
        self.wake_all()  # changes published while not subscribed

    def _wake(self, job_id: str) -> None:
        with self._lock:
            waiters = list(self._waiters.get(job_id, ()))
        for waiter in waiters:
            waiter.event.set()

    def wake_all(self) -> None:
        with self._lock:
            waiters = [waiter for group in self._waiters.values() for waiter in group]
        for waiter in waiters:
            waiter.event.set()

    def shutdown(self) -> None:
        """Answer every waiter now (the process is stopping)."""
        self._subscription.close()
        self.wake_all()

    @contextmanager
    def waiting(self, job_id: uuid.UUID) -> Iterator[Waiter]:
        self._ensure_started()
        key, waiter = str(job_id), Waiter()
        if self.closing:
            waiter.event.set()
        with self._lock:
            self._waiters.setdefault(key, set()).add(waiter)
        try:
            yield waiter
        finally:
            with self._lock:
                group = self._waiters.get(key)
                if group is not None:
                    group.discard(waiter)
                    if not group:
                        del self._waiters[key]

    @property
    def waiter_count(self) -> int:
        with self._lock:
            return sum(len(group) for group in self._waiters.values())


_dispatchers: dict[str, Dispatcher] = {}
_dispatchers_lock = threading.Lock()


def dispatcher() -> Dispatcher | None:
    """This process's dispatcher for the app's Redis, or None without Redis."""
    url = current_app.config["REDIS_URL"]
    if not url:
        return None
    with _dispatchers_lock:
        found = _dispatchers.get(url)
        if found is None:
            found = _dispatchers[url] = Dispatcher(url)
    return found


def shutdown_all() -> None:
    for found in list(_dispatchers.values()):
        found.shutdown()


@contextmanager
def waiting(job_id: uuid.UUID) -> Iterator[tuple[Waiter, float]]:
    """A registered waiter for the job, and how long to wait between re-reads of its row."""
    found = dispatcher()
    if found is None:
        yield Waiter(), POLL_SECONDS
        return
    with found.waiting(job_id) as waiter:
        yield waiter, float(current_app.config["JOB_EVENTS_RECHECK_SECONDS"])
