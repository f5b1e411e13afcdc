"""Request-side helpers every submitting endpoint shares: Idempotency-Key and the 202 answer."""

from __future__ import annotations

import hashlib
import json
import re
import select
import socket
from collections.abc import Callable
from typing import Any

from flask import request

from api.errors import ApiError
from api.jobs import webhooks
from api.jobs.models import Job
from api.jobs.schemas import job_url
from api.jobs.submit import Submission
from api.security import current_caller

IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


def request_fingerprint(body_digest: str | None = None) -> str:
    """SHA-256 of method, path and the JSON body in canonical form (key order ignored)."""
    if body_digest is not None:
        canonical = body_digest.encode()
    else:
        body = request.get_json(silent=True)
        canonical = (
            json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
            if body is not None
            else request.get_data()
        )
    digest = hashlib.sha256(f"{request.method} {request.path}\n".encode())
    digest.update(canonical)
    return digest.hexdigest()


def submission_from_request(
    callback_url: str | None = None, body_digest: str | None = None
) -> Submission:
    """The caller, Idempotency-Key and checked webhook target of a submitting request.

    `body_digest` stands in for the body in the fingerprint when the endpoint read the body
    itself (streamed uploads)."""
    caller = current_caller()
    if callback_url is not None:
        webhooks.check_callback_url(callback_url, caller.user_id)
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return Submission(caller=caller, callback_url=callback_url)
    if not IDEMPOTENCY_KEY.match(key):
        raise ApiError(
            "Idempotency-Key must be 1 to 255 visible ASCII characters (a UUID is ideal).",
            code="invalid_idempotency_key",
        )
    return Submission(
        caller=caller,
        idempotency_key=key,
        fingerprint=request_fingerprint(body_digest),
        callback_url=callback_url,
    )


def accepted(job: Job, created: bool) -> tuple[Job, int, dict[str, Any]]:
    """202 with Location for a new job; 200 and Idempotent-Replayed for a replay."""
    headers: dict[str, Any] = {"Location": job_url(job)}
    if not created:
        headers["Idempotent-Replayed"] = "true"
    return job, 202 if created else 200, headers


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
