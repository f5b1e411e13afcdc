"""Inquiries: stored, then emailed to the company and confirmed to the sender by an email job."""

from __future__ import annotations

import uuid
from typing import Any

from flask import current_app

from api.extensions import db
from api.inquiries.models import Inquiry
from api.jobs import service as jobs
from api.jobs.errors import JobFailed
from api.jobs.kinds import EMAIL
from api.jobs.models import Job
from api.jobs.service import Submission
from api.mail.service import Composition, Mail, composer, email_payload

INQUIRY_TEMPLATE = "inquiry"


def submit_inquiry(data: dict[str, Any], submission: Submission) -> tuple[Job, bool]:
    inquiry = Inquiry(id=uuid.uuid4(), **data)
    job = jobs.new_job(
        EMAIL, submission, email_payload(INQUIRY_TEMPLATE, inquiry_id=str(inquiry.id))
    )
    inquiry.job_id = job.id
    return jobs.submit(job, submission, inquiry)


@composer(INQUIRY_TEMPLATE)
def inquiry_emails(payload: dict[str, Any]) -> Composition:
    inquiry = db.session.get(Inquiry, uuid.UUID(payload["inquiry_id"]))
    if inquiry is None:
        raise JobFailed("inquiry_not_found", "The inquiry this email job refers to is gone.")
    context = {"inquiry": inquiry}
    return Composition(
        mails=[
            Mail(
                key="company",
                to=current_app.config["COMPANY_TARGET_EMAIL"],
                subject=f"New inquiry: {inquiry.subject} ({inquiry.name})",
                template="inquiry_company",
                context=context,
                reply_to=inquiry.email,
            ),
            Mail(
                key="confirmation",
                to=inquiry.email,
                subject="We received your inquiry | BaliBlissed",
                template="inquiry_confirmation",
                context=context,
                reply_to=current_app.config["COMPANY_TARGET_EMAIL"],
            ),
        ],
        result={"inquiry_id": str(inquiry.id)},
    )
