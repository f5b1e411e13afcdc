"""The Bali travel chatbot."""

from __future__ import annotations

from typing import Any

from api.chat import service
from api.chat.schemas import ChatReplySchema, ChatRequestSchema
from api.contract import Blueprint
from api.idempotency import idempotent
from api.ratelimits import limit_from_setting
from api.security import optional_auth

blp = Blueprint("chat", __name__, url_prefix="/api/v1/chat", description="Travel chatbot.")


@blp.route("", methods=["POST"])
@optional_auth
@limit_from_setting("RATELIMIT_CHAT")
@idempotent
@blp.arguments(ChatRequestSchema())
@blp.response(200, ChatReplySchema)
def chat(data: dict[str, Any]) -> dict[str, Any]:
    """Ask about Bali; pass `conversation_id` back to continue a conversation."""
    return service.reply(data["message"], data.get("conversation_id"))
