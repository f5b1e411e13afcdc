"""Destination representations and list filters."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from api.pagination import PageArgsSchema, page_schema

BEST_TIMES = ["sunrise", "morning", "afternoon", "sunset", "evening"]


class DestinationSchema(Schema):
    slug = fields.String()
    name = fields.String()
    area = fields.String()
    category = fields.String()
    latitude = fields.Float()
    longitude = fields.Float()
    duration_minutes = fields.Integer()
    price_min_usd = fields.Integer()
    price_max_usd = fields.Integer()
    best_time = fields.String(metadata={"enum": BEST_TIMES})
    tags = fields.List(fields.String())
    description = fields.String()


DestinationPageSchema = page_schema(DestinationSchema)


class DestinationListArgsSchema(PageArgsSchema):
    area = fields.String(validate=validate.Length(min=1, max=40))
    category = fields.String(validate=validate.Length(min=1, max=40))
    tag = fields.String(validate=validate.Length(min=1, max=40))
