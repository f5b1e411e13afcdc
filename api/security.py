"""Who is calling: the signed-in user (from a JWT) or an anonymous client (by address)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, g, request
from flask_jwt_extended import get_jwt, verify_jwt_in_request

from api.errors import Unauthorized, problem
from api.extensions import jwt


@dataclass(frozen=True)
class Caller:
    user_id: uuid.UUID | None
    role: str | None
    address: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def scope(self) -> str:
        """The namespace for per-caller state such as idempotency keys."""
        return f"user:{self.user_id}" if self.user_id else f"ip:{self.address}"


def current_caller() -> Caller:
    """The caller of this request; a present but invalid token is an error, not anonymity."""
    caller = g.get("caller")
    if caller is None:
        verify_jwt_in_request(optional=True)
        claims = get_jwt()
        subject = claims.get("sub")
        try:
            user_id = uuid.UUID(subject) if subject else None
        except (TypeError, ValueError) as exc:
            raise Unauthorized("The token does not name a user.") from exc
        caller = Caller(
            user_id=user_id,
            role=claims.get("role"),
            address=request.remote_addr or "unknown",
        )
        g.caller = caller
    return caller


def require_user() -> Caller:
    """The caller, who must be signed in."""
    caller = current_caller()
    if caller.user_id is None:
        raise Unauthorized("Sign in to use this endpoint.", headers={"WWW-Authenticate": "Bearer"})
    return caller


def _token_problem(detail: str) -> Callable[..., Response]:
    def answer(*_args: Any) -> Response:
        return problem(401, "unauthorized", detail, headers={"WWW-Authenticate": "Bearer"})

    return answer


def init_app(app: Flask) -> None:
    """Make every flask-jwt-extended refusal a 401 problem+json."""
    jwt.unauthorized_loader(_token_problem("Missing or malformed Authorization header."))
    jwt.invalid_token_loader(_token_problem("The token is invalid."))
    jwt.expired_token_loader(_token_problem("The token has expired."))
    jwt.revoked_token_loader(_token_problem("The token has been revoked."))
    jwt.needs_fresh_token_loader(_token_problem("A fresh sign-in is required."))
    jwt.token_verification_failed_loader(_token_problem("The token was refused."))
    jwt.user_lookup_error_loader(_token_problem("The token's user no longer exists."))
    jwt.init_app(app)
