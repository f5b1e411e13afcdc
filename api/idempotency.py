"""Idempotency-Key for every creating POST: one mechanism, one table, one unit of work.

A creating route is wrapped in :func:`idempotent`. With an `Idempotency-Key` header (1..255
visible ASCII characters, scoped per caller: the user, or the address of an anonymous caller):

* the key's in-flight marker is held until the request's unit of work ends, so a duplicate
  sent while the first is still running is answered `409 request_in_progress`;
* a record (`idempotency_records`) is inserted and flushed *before* the view runs, in the
  request's transaction; the view's answer is stored in it after the view, so the record and
  the effect commit together or not at all (a rejected request leaves no record). If the cache
  holding the markers is down, the record's primary key still decides: a concurrent duplicate
  waits on the first insert, then replays its answer;
* a later request with the same key and body gets the stored answer back (same status and
  body, header `Idempotent-Replayed: true`); a job submission gets its job as it is now, `200`;
  the same key with another body is `422 idempotency_key_reused`.

Records expire after IDEMPOTENCY_TTL_HOURS (the purge task deletes them; an expired record
found first is replaced). Streamed uploads, whose body the view reads itself, call
:func:`begin` with the body's digest once they know it (`idempotent(deferred=True)`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
import uuid
from collections.abc import Callable
from contextlib import suppress
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

from flask import Response, current_app, g, jsonify, request
from sqlalchemy import ForeignKey, String, delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from api.database import affected, on_end
from api.errors import ApiError, Conflict, ValidationFailed
from api.extensions import Model, db, security_store
from api.models import JSONDocument, utc_param, utcnow
from api.security import current_caller

log = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")
IN_FLIGHT_MARKER_SECONDS = 60
REPLAYED_HEADER = "Idempotent-Replayed"
KEPT_HEADERS = ("Location",)  # of the first answer, replayed with it

View = TypeVar("View", bound=Callable[..., Any])


class IdempotencyRecord(Model):
    """The first answer to a caller's Idempotency-Key, kept IDEMPOTENCY_TTL_HOURS."""

    __tablename__ = "idempotency_records"

    key: Mapped[str] = mapped_column(String(400), primary_key=True)  # "<scope>:<key>"
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None]  # NULL until the view has answered
    body: Mapped[Any | None] = mapped_column(JSONDocument)
    headers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # A job submission's replay shows the job as it is now, not as it was.
    job_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class Replay(Exception):
    """Raised by :func:`begin` when the request repeats an earlier one: answer `response`."""

    def __init__(self, response: Response) -> None:
        super().__init__("idempotent replay")
        self.response = response


# --- the request's key --------------------------------------------------------------------


def request_key() -> str | None:
    """The caller-scoped key of this request, or None without the header; 400 if malformed."""
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not KEY_PATTERN.match(key):
        raise ApiError(
            "Idempotency-Key must be 1 to 255 visible ASCII characters (a UUID is ideal).",
            code="invalid_idempotency_key",
        )
    return f"{current_caller().scope}:{key}"


def fingerprint(body_digest: str | None = None) -> str:
    """SHA-256 of method, path and the body: JSON in canonical form (key order ignored), or
    `body_digest` for a body the view read itself."""
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


# --- replays --------------------------------------------------------------------------------

# Renders the current state of a record's resource (a job), registered by its owner package so
# this module depends on no feature.
_job_replayer: Callable[[uuid.UUID], Response | None] | None = None


def register_job_replayer(render: Callable[[uuid.UUID], Response | None]) -> None:
    global _job_replayer
    _job_replayer = render


def _replay_response(record: IdempotencyRecord) -> Response:
    response: Response | None = None
    if record.job_id is not None and _job_replayer is not None:
        response = _job_replayer(record.job_id)
    if response is None:
        response = jsonify(record.body)
        response.status_code = record.status_code or 200
        for name, value in (record.headers or {}).items():
            response.headers[name] = value
    response.headers[REPLAYED_HEADER] = "true"
    return response


def _existing(key: str, digest: str) -> IdempotencyRecord | None:
    """The live record of `key` (an expired one is deleted), checked against this body."""
    record = db.session.get(IdempotencyRecord, key, populate_existing=True)
    if record is None:
        return None
    if record.created_at < utcnow() - _ttl():
        db.session.delete(record)
        db.session.flush()
        return None
    if record.fingerprint != digest:
        raise ValidationFailed(
            "This Idempotency-Key was already used with a different request body.",
            code="idempotency_key_reused",
        )
    if record.status_code is None:  # cannot be seen committed; kept for safety
        raise _in_progress()
    return record


def _ttl() -> timedelta:
    return timedelta(hours=current_app.config["IDEMPOTENCY_TTL_HOURS"])


def _in_progress() -> Conflict:
    return Conflict(
        "A request with this Idempotency-Key is still being processed.",
        code="request_in_progress",
        headers={"Retry-After": "1"},
    )


def _hold_in_flight_marker(key: str) -> None:
    """Hold the key's marker until this unit of work ends, or answer 409.

    If the cache is unreachable the request goes on unmarked: the record's primary key still
    guarantees one effect; a concurrent duplicate gets the replay instead of a 409.
    """
    marker = f"idempotency-in-flight:{key}"
    try:
        held = security_store.current.add(marker, 1, IN_FLIGHT_MARKER_SECONDS)
    except Exception:
        log.warning("idempotency marker unavailable; relying on the primary key", exc_info=True)
        return
    if not held:
        raise _in_progress()

    def release() -> None:
        with suppress(Exception):  # it expires by itself
            security_store.current.delete(marker)

    on_end(release)


def begin(body_digest: str | None = None) -> None:
    """Start this request's idempotent unit of work: raise :class:`Replay` for a repeat, else
    insert its record (flushed, so a concurrent duplicate waits for this one's outcome)."""
    key = request_key()
    if key is None:
        return
    digest = fingerprint(body_digest)
    _hold_in_flight_marker(key)
    record = _existing(key, digest)
    if record is not None:
        raise Replay(_replay_response(record))
    record = IdempotencyRecord(key=key, fingerprint=digest, headers={})
    db.session.add(record)
    try:
        db.session.flush()
    except IntegrityError:  # a concurrent request with this key committed first
        # Nothing but reads precede this point, so the whole transaction can go.
        db.session.rollback()
        record = _existing(key, digest)
        if record is None:  # it rolled back meanwhile: its key is free again
            raise _in_progress() from None
        raise Replay(_replay_response(record)) from None
    g.idempotency_record = record


def attach_job(job_id: uuid.UUID) -> None:
    """Tie this request's record (if any) to the job it submitted."""
    record: IdempotencyRecord | None = g.get("idempotency_record")
    if record is not None and record.job_id is None:
        record.job_id = job_id


def _remember(response: Response) -> None:
    record: IdempotencyRecord | None = g.pop("idempotency_record", None)
    if record is None or response.status_code >= 400:
        return  # an error answer rolls the record back with everything else
    record.status_code = response.status_code
    record.body = response.get_json(silent=True)
    record.headers = {
        name: response.headers[name] for name in KEPT_HEADERS if name in response.headers
    }
    db.session.flush()


def idempotent(view: View | None = None, *, deferred: bool = False) -> Any:
    """Honour Idempotency-Key on a creating route (place it right under `@blp.route`).

    `deferred`: the view reads the body itself and calls :func:`begin` with its digest."""

    def decorate(func: View) -> View:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            g.pop("idempotency_record", None)
            try:
                if not deferred:
                    begin()
                response = current_app.make_response(func(*args, **kwargs))
            except Replay as replay:
                return replay.response
            _remember(response)
            return response

        return cast(View, wrapper)

    return decorate(view) if view is not None else decorate


def purge_expired() -> int:
    """Forget records older than IDEMPOTENCY_TTL_HOURS, so their keys can be used again."""
    cutoff = utcnow() - _ttl()
    return affected(
        delete(IdempotencyRecord).where(IdempotencyRecord.created_at < utc_param(cutoff))
    )
