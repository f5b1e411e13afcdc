"""Visitors' inquiries (contact form)."""

from __future__ import annotations

import uuid
from typing import Any

from api.contract import Blueprint
from api.idempotency import idempotent
from api.inquiries import service
from api.inquiries.models import Inquiry
from api.inquiries.schemas import (
    InquiryCreateSchema,
    InquiryListArgsSchema,
    InquirySchema,
    InquiryUpdateSchema,
)
from api.jobs.http import accepted, submission_from_request
from api.jobs.schemas import JobSchema
from api.pagination import page_schema, paginate
from api.ratelimits import limit_from_setting
from api.security import optional_auth, roles_required
from api.users.models import Role

blp = Blueprint(
    "inquiries", __name__, url_prefix="/api/v1/inquiries", description="Contact inquiries."
)


@blp.route("", methods=["POST"])
@optional_auth
@limit_from_setting("RATELIMIT_INQUIRY")
@idempotent
@blp.arguments(InquiryCreateSchema())
@blp.response(202, JobSchema)
@blp.alt_response(200, schema=JobSchema, description="Idempotent replay of an earlier request.")
@blp.alt_response(409, description="A request with this Idempotency-Key is in flight.")
@blp.alt_response(422, description="Invalid fields, or an Idempotency-Key reused.")
def submit_inquiry(data: dict[str, Any]) -> tuple[Any, int, dict[str, Any]]:
    """Send an inquiry: stored now, emailed by a worker (poll the job in `Location`)."""
    submission = submission_from_request(data.pop("callback_url", None))
    return accepted(service.submit_inquiry(data, submission))


@blp.route("")
@roles_required(Role.ADMIN)
@blp.arguments(InquiryListArgsSchema(), location="query")
@blp.response(200, page_schema(InquirySchema))
@blp.alt_response(403, description="Administrators only.")
def list_inquiries(args: dict[str, Any]) -> dict[str, Any]:
    """The back office: inquiries newest first (filters: status, category)."""
    page, per_page = args.pop("page"), args.pop("per_page")
    return paginate(service.search(args), page, per_page)


@blp.route("/<uuid:inquiry_id>", methods=["PATCH"])
@roles_required(Role.ADMIN)
@blp.arguments(InquiryUpdateSchema())
@blp.response(200, InquirySchema)
@blp.alt_response(403, description="Administrators only.")
@blp.alt_response(404, description="No such inquiry.")
def update_inquiry(data: dict[str, Any], inquiry_id: uuid.UUID) -> Inquiry:
    """Move an inquiry along: new, in_progress, answered, closed."""
    return service.set_status(inquiry_id, data["status"])
