"""Signed job webhooks (Standard Webhooks), delivered by workers with retries, SSRF-guarded.

The callback URL is checked at submission (scheme, and every address it resolves to must be
public unless WEBHOOK_ALLOW_PRIVATE_TARGETS) and again at each attempt, which connects to the
address it just checked (no second DNS lookup for an attacker to rebind), follows no redirects,
gives up after WEBHOOK_TIMEOUT_SECONDS and keeps only a short prefix of the response.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import urllib3
from flask import current_app
from sqlalchemy import select, update

from api.errors import ValidationFailed
from api.extensions import db
from api.jobs.models import Job
from api.jobs.schemas import JobSchema
from api.models import utc_param, utcnow
from api.users.models import User
from api.webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery

log = logging.getLogger(__name__)

SECRET_PREFIX = "whsec_"
DELIVER_TASK = "webhooks.deliver"
RESPONSE_EXCERPT_BYTES = 512
CLAIM_SECONDS = 60  # an attempt in progress holds the delivery this long
MISSED_AFTER_SECONDS = 120  # a pending delivery this late had its message lost


class RefusedTarget(Exception):
    """The callback URL is not an allowed target."""


# --- secrets and signatures ------------------------------------------------------------------


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def secret_for(user: User) -> str:
    if not user.webhook_secret:
        user.webhook_secret = new_secret()
        db.session.commit()
    return user.webhook_secret


def rotate_secret(user: User) -> str:
    user.webhook_secret = new_secret()
    db.session.commit()
    return user.webhook_secret


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256>` over "{id}.{timestamp}.{body}", keyed by the secret's bytes."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


# --- targets ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str
    address: str


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def resolve_target(url: str) -> Target:
    """Parse and resolve the URL once; refuse non-http(s) and (by default) non-public hosts."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise RefusedTarget("Only http and https URLs with a host are allowed.")
    if parts.username or parts.password:
        raise RefusedTarget("Credentials in the URL are not allowed.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (OSError, ValueError) as exc:
        raise RefusedTarget("The host name does not resolve.") from exc
    addresses = [str(info[4][0]) for info in infos]
    if not current_app.config["WEBHOOK_ALLOW_PRIVATE_TARGETS"] and not all(
        _is_public(address) for address in addresses
    ):
        raise RefusedTarget("The host resolves to a private or reserved address.")
    path = parts.path or "/"
    if parts.query:
        path += f"?{parts.query}"
    return Target(parts.scheme, parts.hostname, port, path, addresses[0])


def check_callback_url(url: str, user_id: uuid.UUID | None) -> None:
    if user_id is None:
        raise ValidationFailed(
            "Webhooks are for signed-in callers.",
            errors={"callback_url": ["Sign in to receive webhooks."]},
        )
    try:
        resolve_target(url)
    except RefusedTarget as exc:
        raise ValidationFailed(
            "The callback URL is not allowed.", errors={"callback_url": [str(exc)]}
        ) from exc


def _post(target: Target, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    timeout = urllib3.Timeout(total=current_app.config["WEBHOOK_TIMEOUT_SECONDS"])
    pool: urllib3.HTTPConnectionPool
    if target.scheme == "https":
        pool = urllib3.HTTPSConnectionPool(
            target.address,
            target.port,
            timeout=timeout,
            retries=False,
            server_hostname=target.host,
            assert_hostname=target.host,
            cert_reqs="CERT_REQUIRED",
        )
    else:
        pool = urllib3.HTTPConnectionPool(
            target.address, target.port, timeout=timeout, retries=False
        )
    default_port = 443 if target.scheme == "https" else 80
    host_header = target.host if target.port == default_port else f"{target.host}:{target.port}"
    with pool:
        response = pool.urlopen(
            "POST",
            target.path,
            body=body,
            headers={**headers, "Host": host_header},
            redirect=False,
            retries=False,
            preload_content=False,
        )
        excerpt = response.read(RESPONSE_EXCERPT_BYTES, decode_content=False)
        response.release_conn()
    return response.status, excerpt


# --- events and deliveries -------------------------------------------------------------------


def record_terminal_event(job_id: uuid.UUID) -> uuid.UUID | None:
    """In the transaction that made the job terminal: the delivery row, if it has a callback."""
    job = db.session.get(Job, job_id, populate_existing=True)
    if job is None or not job.callback_url or job.owner_id is None:
        return None
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
    )
    db.session.add(delivery)
    return delivery.id


def publish(delivery_id: uuid.UUID, countdown: float = 0) -> bool:
    try:
        current_app.extensions["celery"].send_task(
            DELIVER_TASK, args=[str(delivery_id)], countdown=countdown or None
        )
    except Exception:  # the row is pending: the sweeper publishes it again
        log.warning("could not publish webhook delivery %s", delivery_id, exc_info=True)
        return False
    return True


def _claim(delivery_id: uuid.UUID) -> WebhookDelivery | None:
    """Hold the delivery for one attempt; None when it is done or another worker holds it."""
    now = utcnow()
    claimed = db.session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery_id,
            WebhookDelivery.status == DeliveryStatus.PENDING,
            WebhookDelivery.next_attempt_at <= utc_param(now + timedelta(seconds=1)),
        )
        .values(next_attempt_at=utc_param(now + timedelta(seconds=CLAIM_SECONDS)))
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    return db.session.get(WebhookDelivery, delivery_id, populate_existing=True) if claimed else None


def deliver(delivery_id: uuid.UUID) -> float | None:
    """One attempt. Returns the delay before the next attempt, or None when done."""
    delivery = _claim(delivery_id)
    if delivery is None:
        return None
    config = current_app.config
    user = db.session.get(User, delivery.user_id)
    number = delivery.attempts + 1
    status_code: int | None = None
    excerpt = error = None
    permanent = False
    started = time.monotonic()
    try:
        target = resolve_target(delivery.url)
        timestamp = int(time.time())
        body = delivery.body.encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "BaliBlissed-Webhooks/1",
            "webhook-id": delivery.message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(secret_for(user), delivery.message_id, timestamp, body),
        }
        status_code, raw = _post(target, body, headers)
        excerpt = raw.decode("utf-8", errors="replace")
    except RefusedTarget as exc:
        error, permanent = str(exc), True
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        error = f"{type(exc).__name__}: {exc}"[:300]
    db.session.add(
        WebhookAttempt(
            delivery_id=delivery.id,
            number=number,
            status_code=status_code,
            error=error,
            response_excerpt=excerpt,
            duration_ms=int((time.monotonic() - started) * 1000),
        )
    )
    delivery.attempts = number
    delay = None
    if status_code is not None and 200 <= status_code < 300:
        delivery.status = DeliveryStatus.SUCCEEDED
    elif permanent or number >= config["WEBHOOK_MAX_ATTEMPTS"]:
        delivery.status = DeliveryStatus.FAILED
    else:
        delay = float(config["WEBHOOK_RETRY_BASE_DELAY"] * 2 ** (number - 1))
        delivery.next_attempt_at = utcnow() + timedelta(seconds=delay)
    db.session.commit()
    return delay


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
    """Publish pending deliveries whose message was lost (worker or broker trouble)."""
    late = utcnow() - timedelta(seconds=MISSED_AFTER_SECONDS)
    ids = db.session.scalars(
        select(WebhookDelivery.id)
        .where(
            WebhookDelivery.status == DeliveryStatus.PENDING,
            WebhookDelivery.next_attempt_at < utc_param(late),
        )
        .limit(500)
    ).all()
    db.session.rollback()
    return sum(publish(delivery_id) for delivery_id in ids)
