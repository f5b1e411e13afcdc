"""Who is calling: the signed-in user (from a JWT) or an anonymous client (by address).

A present token must be valid, not revoked, and belong to an active user whose sessions were
not ended after it was issued (password change, reset, deactivation); otherwise the request is
refused with 401, never treated as anonymous.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, g, request
from flask_jwt_extended import get_jwt, verify_jwt_in_request

from api.auth.tokens import is_revoked
from api.database import read_without_transaction
from api.errors import Forbidden, Unauthorized, problem
from api.extensions import db, jwt
from api.users.models import User

BEARER = {"WWW-Authenticate": "Bearer"}


@dataclass(frozen=True)
class Caller:
    user_id: uuid.UUID | None
    role: str | None
    address: str
    user: User | None = None

    @classmethod
    def system(cls, user_id: uuid.UUID | None) -> Caller:
        """The backend acting on its own (e.g. sending a user their verification email)."""
        return cls(user_id=user_id, role=None, address="system")

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def is_staff(self) -> bool:
        return self.role in {"admin", "moderator"}

    @property
    def scope(self) -> str:
        """The namespace for per-caller state such as idempotency keys."""
        return f"user:{self.user_id}" if self.user_id else f"ip:{self.address}"


def load_token_user(claims: dict[str, Any]) -> User:
    """The active user a verified token speaks for, or 401."""
    try:
        user_id = uuid.UUID(str(claims.get("sub")))
    except ValueError as exc:
        raise Unauthorized("The token does not name a user.", headers=BEARER) from exc
    read_without_transaction()
    user = db.session.get(User, user_id)
    if user is None or not user.is_active:
        raise Unauthorized("This account no longer exists or is disabled.", headers=BEARER)
    if claims.get("ver") != user.session_version:
        raise Unauthorized("This session has ended; sign in again.", headers=BEARER)
    return user


def current_caller() -> Caller:
    """The caller of this request (cached for the request)."""
    caller = g.get("caller")
    if caller is None:
        verify_jwt_in_request(optional=True)
        claims = get_jwt()
        address = request.remote_addr or "unknown"
        if claims:
            user = load_token_user(claims)
            caller = Caller(user_id=user.id, role=user.role, address=address, user=user)
        else:
            caller = Caller(user_id=None, role=None, address=address)
        g.caller = caller
    return caller


def require_user() -> Caller:
    """The caller, who must be signed in."""
    caller = current_caller()
    if caller.user is None:
        raise Unauthorized("Sign in to use this endpoint.", headers=BEARER)
    return caller


def require_role(*roles: str) -> Caller:
    """The signed-in caller, who must have one of `roles` (else 403)."""
    caller = require_user()
    if caller.role not in roles:
        raise Forbidden("Your account is not allowed to do this.")
    return caller


def _token_problem(detail: str) -> Callable[..., Response]:
    def answer(*_args: Any) -> Response:
        return problem(401, "unauthorized", detail, headers=BEARER)

    return answer


def init_app(app: Flask) -> None:
    """Make every flask-jwt-extended refusal a 401 problem+json; check the blocklist."""
    jwt.unauthorized_loader(_token_problem("Missing or malformed Authorization header."))
    jwt.invalid_token_loader(_token_problem("The token is invalid."))
    jwt.expired_token_loader(_token_problem("The token has expired."))
    jwt.revoked_token_loader(_token_problem("The token has been revoked."))
    jwt.needs_fresh_token_loader(_token_problem("A fresh sign-in is required."))
    jwt.token_verification_failed_loader(_token_problem("The token was refused."))
    jwt.user_lookup_error_loader(_token_problem("The token's user no longer exists."))
    jwt.token_in_blocklist_loader(lambda _header, payload: is_revoked(payload))
    jwt.init_app(app)
