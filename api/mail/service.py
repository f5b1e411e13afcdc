"""Email jobs: a feature composes the messages, this module renders and sends them.

A feature queues an email job naming its template (`queue_email`); the email task
(`workers/email.py`) holds the one table from template names to the features' composers and
calls `send_email_job` with it. A job may send several messages (the company's copy and the
sender's confirmation). Through a provider that cannot recognise a repeated message (SMTP,
Gmail) each one sent is committed to the job's progress before the next, so a retried or
taken-over job sends only what is missing; the outbox writes a file named by the Message-ID,
so it needs no such write.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import formatdate, parseaddr
from typing import Any

from flask import current_app
from sqlalchemy import Update

from api.extensions import email_sender
from api.integrations.email import OutgoingEmail
from api.jobs.errors import JobFailed
from api.jobs.kinds import EMAIL
from api.jobs.lifecycle import JobRun, save_progress, write_with_outcome
from api.jobs.models import Job
from api.jobs.submit import Submission, new_job, submit
from api.security import Caller
from api.telemetry import EMAILS_SENT


@dataclass(frozen=True)
class Mail:
    key: str  # stable within a job: it names the message in progress and Message-ID
    to: str
    subject: str
    template: str  # templates/email/<template>.txt and .html
    context: dict[str, Any]
    reply_to: str | None = None


@dataclass(frozen=True)
class Composition:
    mails: list[Mail]
    result: dict[str, Any] = field(default_factory=dict)
    # UPDATEs of the composer's rows (statement, parameters), made with the job's outcome
    # (`api.jobs.lifecycle.write_with_outcome`).
    with_outcome: list[tuple[Update, dict[str, Any]]] = field(default_factory=list)


Composer = Callable[[dict[str, Any]], Composition]


def email_payload(template: str, **references: str) -> dict[str, Any]:
    """The payload of an email job: which composer, and the ids it reads."""
    return {"template": template, **references}


def queue_email(
    template: str,
    owner_id: uuid.UUID | None,
    *,
    callback_url: str | None = None,
    **references: str,
) -> Job:
    """Add an email job on the backend's own behalf to the unit of work (sent after commit).

    The payload holds ids only: links with tokens are made by the worker when it sends.
    `callback_url` (already checked by the submitting request) receives the job's webhook.
    """
    submission = Submission(caller=Caller.system(owner_id), callback_url=callback_url)
    job = new_job(EMAIL, submission, email_payload(template, **references))
    return submit(job, submission)


def render_email(name: str, context: dict[str, Any]) -> str:
    """A template of the app's Jinja environment, rendered with `context` only: an email has no
    request, so Flask's context processors (request, session, g) and its render signals, which
    `render_template` runs for each of a job's four templates, give it nothing."""
    return current_app.jinja_env.get_template(name).render(context)


def build_message(mail: Mail, message_id: str) -> OutgoingEmail:
    config = current_app.config
    context = {
        **mail.context,
        "frontend_url": config["FRONTEND_URL"],
        "whatsapp_number": config["WHATSAPP_NUMBER"],
    }
    return OutgoingEmail(
        sender=config["EMAIL_FROM"],
        to=mail.to,
        subject=mail.subject,
        reply_to=mail.reply_to,
        message_id=message_id,
        date=formatdate(usegmt=True),
        text=render_email(f"email/{mail.template}.txt", context),
        html=render_email(f"email/{mail.template}.html", context),
    )


def send_email_job(run: JobRun, composers: Mapping[str, Composer]) -> dict[str, Any]:
    """The email job's work: compose, then send each message not sent by an earlier attempt."""
    template = run.payload.get("template", "")
    if template not in composers:
        raise JobFailed("unknown_email_template", f"No email template named {template!r}.")
    composition = composers[template](run.payload)
    for statement, parameters in composition.with_outcome:
        write_with_outcome(run, statement, parameters)
    sender = email_sender.current
    domain = parseaddr(current_app.config["EMAIL_FROM"])[1].rpartition("@")[2] or "localhost"
    sent: dict[str, Any] = run.progress.setdefault("sent", {})
    for mail in composition.mails:
        if mail.key in sent:
            continue
        message = build_message(mail, message_id=f"<{run.id}.{mail.key}@{domain}>")
        sent[mail.key] = {"provider": sender.name, "provider_id": sender.send(message)}
        EMAILS_SENT.labels(sender.name).inc()
        if not sender.idempotent:
            save_progress(run)
    return {**composition.result, "sent": sorted(sent), "provider": sender.name}
