"""Signed job webhooks (Standard Webhooks), delivered by workers with retries, SSRF-guarded.

The delivery row is written in the transaction that makes the job terminal and its message is
published after that commit. The callback URL is checked at submission and again at each
attempt (`api.integrations.http`: public addresses only unless WEBHOOK_ALLOW_PRIVATE_TARGETS,
no redirects, a short answer excerpt, a wall-clock deadline of WEBHOOK_TIMEOUT_SECONDS). Each
attempt is one row, written and counted by the claim that starts it (so an attempt whose worker
dies still counts) and completed with its outcome; the delivery is retried with exponential
backoff until it succeeds or WEBHOOK_MAX_ATTEMPTS have been claimed, and then it fails.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import uuid
from datetime import timedelta
from typing import Any

import structlog
from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from api.database import affected
from api.errors import ValidationFailed
from api.extensions import db
from api.integrations.http import RefusedTarget, TransportError, post, resolve_target
from api.jobs.broker import publish_after_commit
from api.jobs.models import DeliveryStatus, Job, WebhookAttempt, WebhookDelivery, WebhookSecret
from api.jobs.schemas import JobSchema
from api.models import utc_param, utcnow
from api.telemetry import WEBHOOK_ATTEMPT_SECONDS, WEBHOOK_DELIVERIES

log = structlog.get_logger(__name__)

SECRET_PREFIX = "whsec_"
DELIVER_TASK = "webhooks.deliver"
DELIVER_SOFT_TIME_LIMIT, DELIVER_TIME_LIMIT = 30, 40
CLAIM_SECONDS = 60  # an attempt in progress holds the delivery this long
MISSED_AFTER_SECONDS = 120  # a pending delivery this late had its message lost
# The error an attempt row carries from its claim until its outcome replaces it; a later claim
# (only possible once CLAIM_SECONDS have passed) finds it still there when the worker died.
IN_PROGRESS = "no outcome yet: the attempt is in progress, or its worker stopped during it"
INTERRUPTED = "interrupted: the worker stopped during the attempt; no answer was recorded"


# --- secrets and signatures ------------------------------------------------------------------


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def secret_for(user_id: uuid.UUID) -> str:
    """The user's signing key, made on first use (by the request that shows it or the worker
    that signs with it, whichever comes first: the insert yields to a concurrent one)."""
    row = db.session.get(WebhookSecret, user_id)
    if row is not None:
        return row.secret
    insert = pg_insert if db.engine.dialect.name == "postgresql" else sqlite_insert
    now = utcnow()
    db.session.execute(
        insert(WebhookSecret)
        .values(user_id=user_id, secret=new_secret(), created_at=now, updated_at=now)
        .on_conflict_do_nothing(index_elements=["user_id"])
    )
    return db.session.execute(
        select(WebhookSecret.secret).where(WebhookSecret.user_id == user_id)
    ).scalar_one()


def rotate_secret(user_id: uuid.UUID) -> str:
    row = db.session.get(WebhookSecret, user_id)
    if row is None:
        return secret_for(user_id)
    row.secret = new_secret()
    return row.secret


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256>` over "{id}.{timestamp}.{body}", keyed by the secret's bytes."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


# --- targets ---------------------------------------------------------------------------------


def _allow_private() -> bool:
    return bool(current_app.config["WEBHOOK_ALLOW_PRIVATE_TARGETS"])


def check_callback_url(url: str, user_id: uuid.UUID | None) -> None:
    if user_id is None:
        raise ValidationFailed(
            "Webhooks are for signed-in callers.",
            errors={"callback_url": ["Sign in to receive webhooks."]},
        )
    try:
        resolve_target(url, allow_private=_allow_private())
    except RefusedTarget as exc:
        raise ValidationFailed(
            "The callback URL is not allowed.", errors={"callback_url": [str(exc)]}
        ) from exc


# --- events and deliveries -------------------------------------------------------------------


def record_terminal_event(job_id: uuid.UUID) -> None:
    """In the transaction that made the job terminal: the delivery row, if it has a callback,
    and its message after the commit."""
    job = db.session.get(Job, job_id, populate_existing=True)
    if job is None or not job.callback_url or job.owner_id is None:
        return
    now = utcnow()
    body = json.dumps(
        {
            "type": f"job.{job.status}",
            "timestamp": now.isoformat().replace("+00:00", "Z"),
            "data": JobSchema().dump(job),
        },
        separators=(",", ":"),
    )
    delivery = WebhookDelivery(
        id=uuid.uuid4(),
        job_id=job.id,
        user_id=job.owner_id,
        event=f"job.{job.status}",
        url=job.callback_url,
        body=body,
        next_attempt_at=now,
        request_id=job.request_id,
    )
    db.session.add(delivery)
    publish_after_commit(DELIVER_TASK, [str(delivery.id)])


def claim(delivery_id: uuid.UUID) -> WebhookDelivery | None:
    """Hold the delivery for one attempt and count that attempt, committed at once: a second
    message for it waits, and the attempt counts even if its worker dies or overruns. Once
    WEBHOOK_MAX_ATTEMPTS have been claimed the delivery is failed instead, so republishing it
    (the sweeper) cannot make it loop. None when there is nothing to attempt."""
    now = utcnow()
    maximum = current_app.config["WEBHOOK_MAX_ATTEMPTS"]
    due = (
        WebhookDelivery.id == delivery_id,
        WebhookDelivery.status == DeliveryStatus.PENDING,
        WebhookDelivery.next_attempt_at <= utc_param(now + timedelta(seconds=1)),
    )
    claimed = affected(
        update(WebhookDelivery)
        .where(*due, WebhookDelivery.attempts < maximum)
        .values(
            attempts=WebhookDelivery.attempts + 1,
            next_attempt_at=utc_param(now + timedelta(seconds=CLAIM_SECONDS)),
        )
    )
    exhausted = 0
    if not claimed:
        exhausted = affected(
            update(WebhookDelivery)
            .where(*due, WebhookDelivery.attempts >= maximum)
            .values(status=DeliveryStatus.FAILED)
        )
    delivery = None
    if claimed or exhausted:  # earlier attempts still without an outcome lost their worker
        affected(
            update(WebhookAttempt)
            .where(WebhookAttempt.delivery_id == delivery_id, WebhookAttempt.error == IN_PROGRESS)
            .values(error=INTERRUPTED)
        )
    if claimed:
        delivery = db.session.get(WebhookDelivery, delivery_id, populate_existing=True)
        assert delivery is not None
        # A key made on first use commits here: inserted in the attempt's transaction, it would
        # hold the user's other deliveries (waiting on that row) for as long as the POST takes.
        secret_for(delivery.user_id)
        db.session.add(
            WebhookAttempt(
                delivery_id=delivery_id,
                number=delivery.attempts,
                status_code=None,
                error=IN_PROGRESS,
                response_excerpt=None,
                duration_ms=0,
            )
        )
    db.session.commit()
    return delivery


def deliver(delivery_id: uuid.UUID) -> float | None:
    """One attempt (the delivery task's unit of work): claim (committed), POST, record, commit.

    Returns the delay before the next attempt, or None when there is nothing more to do."""
    delivery = claim(delivery_id)
    if delivery is None:
        return None
    structlog.contextvars.bind_contextvars(
        request_id=delivery.request_id, job_id=str(delivery.job_id), delivery_id=str(delivery.id)
    )
    delay = _attempt(delivery)
    db.session.commit()
    return delay


def _attempt(delivery: WebhookDelivery) -> float | None:
    """The claimed HTTP attempt, its outcome recorded with the delivery's new state (not
    committed yet). The deadline starts before the name is resolved, so the recorded duration
    is bounded by WEBHOOK_TIMEOUT_SECONDS whatever the receiver does."""
    config = current_app.config
    number = delivery.attempts  # counted by the claim
    status_code: int | None = None
    excerpt = error = None
    permanent = False
    started = time.monotonic()
    try:
        target = resolve_target(delivery.url, allow_private=_allow_private())
        timestamp = int(time.time())
        body = delivery.body.encode()
        signature = sign(secret_for(delivery.user_id), delivery.message_id, timestamp, body)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "BaliBlissed-Webhooks/1",
            "webhook-id": delivery.message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature,
        }
        if delivery.request_id:  # the request that submitted the job, end to end
            headers["X-Request-ID"] = delivery.request_id
        timeout = config["WEBHOOK_TIMEOUT_SECONDS"]
        status_code, raw = post(target, body, headers, timeout, started=started)
        excerpt = raw.decode("utf-8", errors="replace")
    except RefusedTarget as exc:
        error, permanent = str(exc), True
    except TransportError as exc:
        error = str(exc)[:300]
    WEBHOOK_ATTEMPT_SECONDS.observe(time.monotonic() - started)
    affected(
        update(WebhookAttempt)
        .where(WebhookAttempt.delivery_id == delivery.id, WebhookAttempt.number == number)
        .values(
            status_code=status_code,
            error=error,
            response_excerpt=excerpt,
            duration_ms=int((time.monotonic() - started) * 1000),
        )
    )
    values: dict[str, Any]
    delay: float | None = None
    if status_code is not None and 200 <= status_code < 300:
        values, outcome = {"status": DeliveryStatus.SUCCEEDED}, "delivered"
    elif permanent or number >= config["WEBHOOK_MAX_ATTEMPTS"]:
        values, outcome = {"status": DeliveryStatus.FAILED}, "failed"
    else:
        delay = float(config["WEBHOOK_RETRY_BASE_DELAY"] * 2 ** (number - 1))
        values = {"next_attempt_at": utc_param(utcnow() + timedelta(seconds=delay))}
        outcome = "retry"
    WEBHOOK_DELIVERIES.labels(outcome).inc()
    log.info("webhook.attempt", outcome=outcome, attempt=number, status_code=status_code)
    # Fenced by the attempt number: if a later claim took over, its outcome decides.
    taken = affected(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery.id,
            WebhookDelivery.status == DeliveryStatus.PENDING,
            WebhookDelivery.attempts == number,
        )
        .values(**values)
    )
    return delay if taken else None


def attempts_for(job_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = db.session.execute(
        select(WebhookDelivery, WebhookAttempt)
        .join(WebhookAttempt, WebhookAttempt.delivery_id == WebhookDelivery.id)
        .where(WebhookDelivery.job_id == job_id)
        .order_by(WebhookAttempt.attempted_at, WebhookAttempt.number)
    ).all()
    return [
        {
            "delivery_id": delivery.id,
            "webhook_id": delivery.message_id,
            "event": delivery.event,
            "url": delivery.url,
            "delivery_status": delivery.status,
            "attempt": attempt.number,
            "status_code": attempt.status_code,
            "error": attempt.error,
            "duration_ms": attempt.duration_ms,
            "attempted_at": attempt.attempted_at,
        }
        for delivery, attempt in rows
    ]


def sweep_missed() -> int:
    """Publish (after the sweep's commit) pending deliveries whose message was lost."""
    late = utcnow() - timedelta(seconds=MISSED_AFTER_SECONDS)
    ids = db.session.scalars(
        select(WebhookDelivery.id)
        .where(
            WebhookDelivery.status == DeliveryStatus.PENDING,
            WebhookDelivery.next_attempt_at < utc_param(late),
        )
        .limit(500)
    ).all()
    for delivery_id in ids:
        publish_after_commit(DELIVER_TASK, [str(delivery_id)])
    return len(ids)
