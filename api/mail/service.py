"""Email jobs: a feature composes the messages, this module renders and sends them.

A job may send several messages (the company's copy and the sender's confirmation). Each
one sent is recorded in the job's progress before the next, so a retried or taken-over job
sends only what is missing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from typing import Any

from flask import current_app, render_template

from api.jobs import service as jobs
from api.jobs.errors import JobFailed, JobSuperseded
from api.jobs.kinds import EMAIL
from api.jobs.models import Job
from api.jobs.service import JobRun, Submission
from api.security import Caller


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


Composer = Callable[[dict[str, Any]], Composition]
_composers: dict[str, Composer] = {}


def composer(name: str) -> Callable[[Composer], Composer]:
    """Register the function that turns an email job's payload into messages."""

    def register(function: Composer) -> Composer:
        _composers[name] = function
        return function

    return register


def email_payload(template: str, **references: str) -> dict[str, Any]:
    """The payload of an email job: which composer, and the ids it reads."""
    return {"template": template, **references}


def queue_email(template: str, owner_id: uuid.UUID | None, **references: str) -> Job:
    """Submit an email job on the backend's own behalf; commits the session's pending rows.

    The payload holds ids only: links with tokens are made by the worker when it sends.
    """
    submission = Submission(caller=Caller.system(owner_id))
    job = jobs.new_job(EMAIL, submission, email_payload(template, **references))
    return jobs.submit(job, submission)[0]


def build_message(mail: Mail, message_id: str) -> EmailMessage:
    config = current_app.config
    context = {
        **mail.context,
        "frontend_url": config["FRONTEND_URL"],
        "whatsapp_number": config["WHATSAPP_NUMBER"],
    }
    message = EmailMessage()
    message["From"] = config["EMAIL_FROM"]
    message["To"] = mail.to
    message["Subject"] = mail.subject
    if mail.reply_to:
        message["Reply-To"] = mail.reply_to
    message["Message-ID"] = message_id
    message["Date"] = formatdate(usegmt=True)
    message.set_content(render_template(f"email/{mail.template}.txt", **context))
    message.add_alternative(
        render_template(f"email/{mail.template}.html", **context), subtype="html"
    )
    return message


def send_email_job(run: JobRun) -> dict[str, Any]:
    """The email job's work: compose, then send each message not sent by an earlier attempt."""
    template = run.payload.get("template", "")
    if template not in _composers:
        raise JobFailed("unknown_email_template", f"No email template named {template!r}.")
    composition = _composers[template](run.payload)
    sender = current_app.extensions["email_sender"]
    domain = parseaddr(current_app.config["EMAIL_FROM"])[1].rpartition("@")[2] or "localhost"
    sent: dict[str, Any] = run.progress.setdefault("sent", {})
    for mail in composition.mails:
        if mail.key in sent:
            continue
        message = build_message(mail, message_id=f"<{run.id}.{mail.key}@{domain}>")
        sent[mail.key] = {"provider": sender.name, "provider_id": sender.send(message)}
        if not jobs.save_progress(run):
            raise JobSuperseded
    return {**composition.result, "sent": sorted(sent), "provider": sender.name}
