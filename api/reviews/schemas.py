"""Review requests and representations."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from api.fields import ChangesSchema, Text, WholeNumber
from api.pagination import PageArgsSchema, page_schema
from api.reviews.models import ReviewStatus
from api.users.schemas import TestimonialAuthorSchema

STATUSES = [status.value for status in ReviewStatus]


class ReviewCreateSchema(Schema):
    target = fields.String(required=True, validate=validate.Length(min=1, max=80))
    rating = WholeNumber(required=True, validate=validate.Range(min=1, max=5))
    title = Text(allow_none=True, validate=validate.Length(min=1, max=100))
    content = Text(required=True, multiline=True, validate=validate.Length(min=10, max=2000))
    media_ids = fields.List(fields.UUID(), validate=validate.Length(max=5))


class ReviewUpdateSchema(ChangesSchema):
    rating = WholeNumber(validate=validate.Range(min=1, max=5))
    title = Text(allow_none=True, validate=validate.Length(min=1, max=100))
    content = Text(multiline=True, validate=validate.Length(min=10, max=2000))
    media_ids = fields.List(fields.UUID(), validate=validate.Length(max=5))
    status = fields.String(
        validate=validate.OneOf(STATUSES), metadata={"description": "Moderators only."}
    )


class ReviewListArgsSchema(PageArgsSchema):
    target = fields.String(validate=validate.Length(min=1, max=80))
    status = fields.String(
        validate=validate.OneOf(STATUSES), metadata={"description": "Moderators only."}
    )


class SummaryArgsSchema(Schema):
    target = fields.String(required=True, validate=validate.Length(min=1, max=80))


class ReviewSchema(Schema):
    id = fields.UUID()
    target = fields.String()
    rating = fields.Integer()
    title = fields.String(allow_none=True)
    content = fields.String()
    status = fields.String()
    author = fields.Function(
        lambda review: TestimonialAuthorSchema().dump(review.author), metadata={"type": "object"}
    )
    photos = fields.Function(
        lambda review: [{"id": str(p.media_id), "urls": p.media.urls} for p in review.photos],
        metadata={"type": "array"},
    )
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()


ReviewPageSchema = page_schema(ReviewSchema)


class SummarySchema(Schema):
    target = fields.String()
    count = fields.Integer()
    average = fields.Float(allow_none=True)
    histogram = fields.Dict(keys=fields.String(), values=fields.Integer())
