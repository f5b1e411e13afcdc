"""Post requests and representations."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from api.blog.models import Post, PostStatus
from api.fields import ChangesSchema, Text
from api.pagination import PageArgsSchema, page_schema
from api.users.schemas import TestimonialAuthorSchema

TAG = validate.Regexp(r"^[A-Za-z0-9-]{1,30}$", error="1 to 30 letters, digits or '-'.")
SLUG = validate.Regexp(r"^[a-z0-9]+(?:-[a-z0-9]+)*$", error="Lower-case words joined by '-'.")


class PostCreateSchema(Schema):
    title = Text(required=True, validate=validate.Length(min=1, max=150))
    content = Text(required=True, multiline=True, validate=validate.Length(min=1, max=50_000))
    summary = Text(allow_none=True, multiline=True, validate=validate.Length(max=300))
    tags = fields.List(Text(validate=TAG), validate=validate.Length(max=10))
    status = fields.String(
        load_default=PostStatus.DRAFT, validate=validate.OneOf(["draft", "published"])
    )
    cover_media_id = fields.UUID(allow_none=True)
    media_ids = fields.List(fields.UUID(), validate=validate.Length(max=13))


class PostUpdateSchema(ChangesSchema, PostCreateSchema):
    title = Text(validate=validate.Length(min=1, max=150))
    content = Text(multiline=True, validate=validate.Length(min=1, max=50_000))
    status = fields.String(validate=validate.OneOf([status.value for status in PostStatus]))
    slug = fields.String(validate=[validate.Length(min=1, max=90), SLUG])


class PostListArgsSchema(PageArgsSchema):
    tag = fields.List(
        fields.String(validate=TAG),
        validate=validate.Length(max=10),
        metadata={"description": "Repeat for several (`?tag=a&tag=b`): posts with any of them."},
    )
    author = fields.String(validate=validate.Length(min=1, max=30))
    q = fields.String(validate=validate.Length(min=1, max=100))
    order = fields.String(load_default="newest", validate=validate.OneOf(["newest", "popular"]))
    status = fields.String(
        validate=validate.OneOf([status.value for status in PostStatus]),
        metadata={"description": "Moderators and administrators only."},
    )


def _cover(post: Post) -> dict[str, Any] | None:
    if post.cover is None:
        return None
    return {"id": str(post.cover.id), "urls": post.cover.urls}


class PostSummarySchema(Schema):
    id = fields.UUID()
    slug = fields.String()
    title = fields.String()
    summary = fields.String(allow_none=True)
    excerpt = fields.String()
    tags = fields.Function(
        lambda post: [tag.name for tag in post.tags],
        metadata={"type": "array", "items": {"type": "string"}},
    )
    status = fields.String()
    published_at = fields.AwareDateTime(allow_none=True)
    author = fields.Function(
        lambda post: TestimonialAuthorSchema().dump(post.author), metadata={"type": "object"}
    )
    cover = fields.Function(_cover, metadata={"type": "object", "nullable": True})
    word_count = fields.Integer()
    reading_time_minutes = fields.Integer()
    view_count = fields.Integer()
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()


PostPageSchema = page_schema(PostSummarySchema)


class PostSchema(PostSummarySchema):
    content = fields.String(metadata={"description": "Markdown, as written."})
    content_html = fields.String(metadata={"description": "Rendered and sanitised HTML."})
    media = fields.Function(
        lambda post: [
            {"id": str(item.media_id), "kind": item.media.kind, "urls": item.media.urls}
            for item in post.attachments
        ],
        metadata={"type": "array"},
    )
