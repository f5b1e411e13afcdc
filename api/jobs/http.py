"""Request-side helpers every submitting endpoint shares: the submission and the 202 answer."""

from __future__ import annotations

import select
import socket
import uuid
from collections.abc import Callable
from typing import Any

from flask import Response, jsonify, request

from api import idempotency
from api.extensions import db
from api.jobs import webhooks
from api.jobs.models import Job
from api.jobs.schemas import JobSchema, job_url
from api.jobs.submit import Submission
from api.security import current_caller


def submission_from_request(callback_url: str | None = None) -> Submission:
    """The caller and checked webhook target of a submitting request (its Idempotency-Key is
    `api.idempotency`'s)."""
    caller = current_caller()
    if callback_url is not None:
        webhooks.check_callback_url(callback_url, caller.user_id)
    return Submission(caller=caller, callback_url=callback_url)


def _replay_job(job_id: uuid.UUID) -> Response | None:
    """An idempotent replay of a submission: the job as it is now, `200`."""
    job = db.session.get(Job, job_id, populate_existing=True)
    if job is None:
        return None
    response = jsonify(JobSchema().dump(job))
    response.headers["Location"] = job_url(job)
    return response


idempotency.register_job_replayer(_replay_job)


def accepted(job: Job) -> tuple[Job, int, dict[str, Any]]:
    """202 with the job's Location; the request's Idempotency-Key (if any) now names this job,
    so its replay shows the job as it is then."""
    idempotency.attach_job(job.id)
    return job, 202, {"Location": job_url(job)}


def client_gone_check() -> Callable[[], bool]:
    """A check that says whether the client of this request has closed its connection, so a
    waiter frees its slot without waiting for its deadline (always False without a socket:
    the test client, or a server that does not expose it)."""
    sock: socket.socket | None = request.environ.get("gunicorn.socket")
    if sock is None:
        return lambda: False

    def gone() -> bool:
        try:
            readable, _, _ = select.select([sock], [], [], 0)
            # Readable with nothing to read: the peer closed (pipelined bytes are not a close).
            return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True

    return gone
