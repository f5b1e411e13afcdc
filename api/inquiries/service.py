"""Inquiries: stored, then emailed to the company and confirmed to the sender by an email job."""

from __future__ import annotations

import uuid
from typing import Any, cast

from flask import current_app
from sqlalchemy import Select, Table, bindparam, select, update

from api.catalogue import service as catalogue
from api.errors import NotFound
from api.extensions import db
from api.inquiries.analysis import analyse
from api.inquiries.models import Inquiry
from api.jobs.errors import JobFailed
from api.jobs.kinds import EMAIL
from api.jobs.lifecycle import claim_read
from api.jobs.models import Job
from api.jobs.submit import Submission, new_job, submit
from api.mail.service import Composition, Mail, email_payload
from api.models import utcnow

INQUIRY_TEMPLATE = "inquiry"
# The sender's confirmation, by the language the analysis detected (English otherwise):
# template (templates/email/<name>.txt and .html) and subject.
CONFIRMATIONS = {
    "en": ("inquiry_confirmation", "We received your inquiry | BaliBlissed"),
    "id": ("inquiry_confirmation_id", "Kami telah menerima pertanyaan Anda | BaliBlissed"),
    "zh": ("inquiry_confirmation_zh", "我们已收到您的咨询 | BaliBlissed"),
}


def confirmation_for(language: str | None) -> tuple[str, str, str]:
    """The confirmation's language, template and subject: `zh-CN` is `zh`; unknown is `en`."""
    code = (language or "").split("-")[0].strip().lower()
    code = code if code in CONFIRMATIONS else "en"
    return (code, *CONFIRMATIONS[code])


def submit_inquiry(data: dict[str, Any], submission: Submission) -> Job:
    inquiry = Inquiry(id=uuid.uuid4(), **data)
    job = new_job(EMAIL, submission, email_payload(INQUIRY_TEMPLATE, inquiry_id=str(inquiry.id)))
    inquiry.job_id = job.id
    return submit(job, submission, inquiry)


# The email job reads its inquiry with its claim (in the claim's statement) and writes the
# analysis with its outcome, so an inquiry's email job costs two statements and no transaction
# of its own (the ORM's get and flush were about a tenth of its CPU, the read a round trip).
INQUIRY_READ = claim_read(cast(Table, Inquiry.__table__), "inquiry_id")
_SET_ANALYSIS = (
    update(Inquiry)
    .where(Inquiry.id == bindparam("analysed_id"))
    .values(
        analysis=bindparam("analysis", type_=Inquiry.__table__.c.analysis.type),
        category=bindparam("category", type_=Inquiry.__table__.c.category.type),
        updated_at=bindparam("analysed_at", type_=Inquiry.__table__.c.updated_at.type),
    )
)


def inquiry_emails(payload: dict[str, Any]) -> Composition:
    inquiry = INQUIRY_READ.read(uuid.UUID(payload["inquiry_id"]))
    if inquiry is None:
        raise JobFailed("inquiry_not_found", "The inquiry this email job refers to is gone.")
    analysis = inquiry.analysis
    writes = []
    if analysis is None:  # once: a retried job reuses it (written with its progress)
        analysis = analyse(inquiry, catalogue.place_names())
        writes.append(
            (
                _SET_ANALYSIS,
                {
                    "analysed_id": inquiry.id,
                    "analysis": analysis,
                    "category": analysis["category"],
                    "analysed_at": utcnow(),
                },
            )
        )
    context = {"inquiry": inquiry, "analysis": analysis}
    language, confirmation, subject = confirmation_for(analysis.get("language"))
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
                subject=subject,
                template=confirmation,
                context={**context, "lang": language},
                reply_to=current_app.config["COMPANY_TARGET_EMAIL"],
            ),
        ],
        result={"inquiry_id": str(inquiry.id), "analysis": analysis},
        with_outcome=writes,
    )


def search(filters: dict[str, Any]) -> Select[Inquiry]:
    query = select(Inquiry)
    for field in ("status", "category"):
        if filters.get(field):
            query = query.where(getattr(Inquiry, field) == filters[field])
    return query.order_by(Inquiry.created_at.desc(), Inquiry.id)


def set_status(inquiry_id: uuid.UUID, status: str) -> Inquiry:
    inquiry = db.session.get(Inquiry, inquiry_id)
    if inquiry is None:
        raise NotFound("No inquiry with this id.")
    inquiry.status = status
    return inquiry
