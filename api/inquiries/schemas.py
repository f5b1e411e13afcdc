"""Inquiry input, with the original backend's limits (name 1-100, message at least 10)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from api.fields import Text, WholeNumber, not_disposable_email, not_in_past
from api.inquiries.analysis import CATEGORIES, URGENCIES
from api.inquiries.models import InquiryStatus
from api.jobs.schemas import CallbackSchema
from api.pagination import PageArgsSchema

PHONE_PATTERN = r"^\+?[0-9][0-9 ()\-]{6,24}$"
STATUSES = [status.value for status in InquiryStatus]


class InquiryCreateSchema(CallbackSchema):
    name = Text(required=True, validate=validate.Length(min=1, max=100))
    email = fields.Email(required=True, validate=[validate.Length(max=254), not_disposable_email])
    message = Text(required=True, multiline=True, validate=validate.Length(min=10, max=5000))
    phone = Text(validate=validate.Regexp(PHONE_PATTERN, error="Not a valid phone number."))
    subject = Text(load_default="Travel Inquiry", validate=validate.Length(min=1, max=150))
    travel_date = fields.Date(validate=not_in_past)
    group_size = WholeNumber(validate=validate.Range(min=1, max=100))


class AnalysisSchema(Schema):
    """What the analysis found (Gemini or the local rules); older analyses may lack the
    original backend's three fields (`suggested_reply`, `required_action`, `keywords`)."""

    category = fields.String(metadata={"enum": CATEGORIES})
    urgency = fields.String(metadata={"enum": URGENCIES})
    language = fields.String(metadata={"description": "ISO 639-1 code, e.g. en, id, zh."})
    summary = fields.String()
    suggested_reply = fields.String(metadata={"description": "A reply the agent could send."})
    required_action = fields.String(metadata={"description": "What the agent does next."})
    keywords = fields.List(fields.String(), metadata={"description": "At most 8."})
    source = fields.String(metadata={"enum": ["gemini", "local"]})


class InquirySchema(Schema):
    id = fields.UUID()
    name = fields.String()
    email = fields.String()
    phone = fields.String(allow_none=True)
    subject = fields.String()
    message = fields.String()
    travel_date = fields.Date(allow_none=True)
    group_size = fields.Integer(allow_none=True)
    status = fields.String(metadata={"enum": STATUSES})
    category = fields.String(allow_none=True)
    analysis = fields.Nested(AnalysisSchema, allow_none=True)
    job_id = fields.UUID(allow_none=True)
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()


class InquiryListArgsSchema(PageArgsSchema):
    status = fields.String(validate=validate.OneOf(STATUSES))
    category = fields.String(validate=validate.Length(min=1, max=32))


class InquiryUpdateSchema(Schema):
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
