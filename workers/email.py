"""The email job kind, and the one table of what each email job's template composes."""

from __future__ import annotations

from typing import Any

from api.auth import emails as account_emails
from api.inquiries import service as inquiries
from api.itineraries import exports as itineraries
from api.jobs.kinds import EMAIL
from api.jobs.lifecycle import JobRun, job_task
from api.mail.service import Composer, send_email_job

COMPOSERS: dict[str, Composer] = {
    **account_emails.COMPOSERS,
    inquiries.INQUIRY_TEMPLATE: inquiries.inquiry_emails,
    itineraries.ITINERARY_TEMPLATE: itineraries.itinerary_email,
}


@job_task(EMAIL)
def send_email(run: JobRun) -> dict[str, Any]:
    return send_email_job(run, COMPOSERS)
