"""Media representations."""

from __future__ import annotations

from marshmallow import Schema, fields

from api.media.models import Media, MediaStatus

URL_NAMES = ("original", "thumbnail", "medium", "large")


def _urls(media: Media, attribute: str) -> dict[str, str | None]:
    urls = getattr(media, attribute) or {}
    return {name: urls.get(name) for name in URL_NAMES}


class MediaSchema(Schema):
    id = fields.UUID()
    status = fields.String(metadata={"enum": [status.value for status in MediaStatus]})
    kind = fields.String(metadata={"enum": ["image", "video"]})
    purpose = fields.String()
    content_type = fields.String()
    size = fields.Integer(metadata={"description": "Bytes uploaded."})
    width = fields.Integer(allow_none=True, metadata={"description": "As displayed."})
    height = fields.Integer(allow_none=True)
    urls = fields.Function(lambda media: _urls(media, "urls"), metadata={"type": "object"})
    fallback_urls = fields.Function(
        lambda media: _urls(media, "fallback_urls"),
        metadata={"type": "object", "description": "JPEG versions of the WebP variants."},
    )
    error = fields.Function(
        lambda media: (
            {"code": media.error_code, "message": media.error_message} if media.error_code else None
        ),
        metadata={"type": "object", "nullable": True},
    )
    job_id = fields.UUID(allow_none=True)
    created_at = fields.AwareDateTime()
