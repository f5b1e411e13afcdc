"""Inquiry input, with the original backend's limits (name 1-100, message at least 10)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from api.fields import Text, not_disposable_email, not_in_past

PHONE_PATTERN = r"^\+?[0-9][0-9 ()\-]{6,24}$"


class InquiryCreateSchema(Schema):
    name = Text(required=True, validate=validate.Length(min=1, max=100))
    email = fields.Email(required=True, validate=[validate.Length(max=254), not_disposable_email])
    message = Text(required=True, multiline=True, validate=validate.Length(min=10, max=5000))
    phone = Text(validate=validate.Regexp(PHONE_PATTERN, error="Not a valid phone number."))
    subject = Text(load_default="Travel Inquiry", validate=validate.Length(min=1, max=150))
    travel_date = fields.Date(validate=not_in_past)
    group_size = fields.Integer(strict=True, validate=validate.Range(min=1, max=100))
