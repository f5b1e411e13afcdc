"""Visitors' inquiries (contact form)."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint

from api.inquiries import service
from api.inquiries.schemas import InquiryCreateSchema
from api.jobs.http import accepted, submission_from_request
from api.jobs.schemas import JobSchema
from api.ratelimits import limit_from_setting

blp = Blueprint(
    "inquiries", __name__, url_prefix="/api/v1/inquiries", description="Contact inquiries."
)


@blp.route("", methods=["POST"])
@limit_from_setting("RATELIMIT_INQUIRY")
@blp.arguments(InquiryCreateSchema)
@blp.response(202, JobSchema)
@blp.alt_response(200, schema=JobSchema, description="Idempotent replay of an earlier request.")
@blp.alt_response(409, description="A request with this Idempotency-Key is in flight.")
@blp.alt_response(422, description="Invalid fields, or an Idempotency-Key reused.")
def submit_inquiry(data: dict[str, Any]) -> tuple[Any, int, dict[str, Any]]:
    """Send an inquiry: stored now, emailed by a worker (poll the job in `Location`)."""
    return accepted(*service.submit_inquiry(data, submission_from_request()))
