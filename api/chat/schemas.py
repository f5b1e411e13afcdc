"""Chat request and reply."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from api.fields import Text


class ChatRequestSchema(Schema):
    message = Text(required=True, multiline=True, validate=validate.Length(min=1, max=1000))
    conversation_id = fields.UUID()


class ChatReplySchema(Schema):
    reply = fields.String()
    conversation_id = fields.UUID()
    source = fields.String(metadata={"enum": ["gemini", "local"]})
