"""Sessions as JWT pairs, refresh rotation with reuse detection, and one-time email tokens.

Every pair belongs to a family (`fam` claim) that starts at sign-in. Refreshing spends the
refresh token and issues a new pair in the same family; spending a refresh token twice means it
was stolen, so the whole family is revoked (`api.security` keeps and checks revocations).
"""

from __future__ import annotations

import hashlib
import time
import uuid
from typing import Any

from flask import current_app
from flask_jwt_extended import create_access_token, create_refresh_token, decode_token
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from api.errors import ApiError, Unauthorized
from api.extensions import security_store
from api.security import revoke_family, seconds_left
from api.users.models import User

SPENT_REFRESH = "spent-refresh:{}"
SPENT_ONE_TIME = "spent-one-time:{}"


def issue_pair(
    user: User, family: str | None = None, auth_time: int | None = None
) -> dict[str, Any]:
    """A new pair; `auth_time` (when the user last proved who they are) is kept across
    refreshes, so a refreshed token never looks like a recent sign-in."""
    family = family or uuid.uuid4().hex
    identity = str(user.id)
    claims = {
        "fam": family,
        "ver": user.session_version,
        "auth_time": auth_time if auth_time is not None else int(time.time()),
    }
    return {
        "access_token": create_access_token(identity=identity, additional_claims=claims),
        "refresh_token": create_refresh_token(identity=identity, additional_claims=claims),
        "token_type": "bearer",
        "expires_in": current_app.config["JWT_ACCESS_TOKEN_EXPIRES"],
    }


def spend_refresh_token(claims: dict[str, Any]) -> None:
    """Mark a refresh token used; a second use revokes its family (token theft)."""
    if not security_store.current.add(SPENT_REFRESH.format(claims["jti"]), 1, seconds_left(claims)):
        revoke_family(claims["fam"])
        raise Unauthorized(
            "This refresh token was already used; the session has been ended for safety.",
            code="token_reused",
            headers={"WWW-Authenticate": "Bearer"},
        )


def decode_refresh_token(token: str) -> dict[str, Any] | None:
    """The claims of a refresh token, or None when it is not one of ours."""
    try:
        claims = decode_token(token)
    except Exception:  # any malformed, expired or foreign token: nothing to revoke
        return None
    return claims if claims.get("type") == "refresh" else None


# --- one-time tokens for email links ---------------------------------------------------------

ONE_TIME_LIFETIMES = {"verify-email": 24 * 3600, "password-reset": 3600}


def _serializer(purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=f"baliblissed.{purpose}")


def password_fingerprint(password_hash: str | None) -> str:
    """Changes whenever the password does, so a reset link dies with the old password."""
    return hashlib.sha256((password_hash or "").encode()).hexdigest()[:16]


def make_one_time_token(purpose: str, **claims: str) -> str:
    return _serializer(purpose).dumps({**claims, "jti": uuid.uuid4().hex})


def read_one_time_token(purpose: str, token: str) -> dict[str, Any]:
    """The claims of a valid, unexpired, unused token (not spent yet: see `spend`); else 400."""
    try:
        claims = _serializer(purpose).loads(token, max_age=ONE_TIME_LIFETIMES[purpose])
    except SignatureExpired as exc:
        raise ApiError("This link has expired; ask for a new one.", code="token_expired") from exc
    except BadSignature as exc:
        raise ApiError("This link is not valid.", code="invalid_token") from exc
    if security_store.current.get_many(SPENT_ONE_TIME.format(claims["jti"]))[0]:
        raise ApiError("This link was already used.", code="token_used")
    return claims


def spend_one_time_token(purpose: str, claims: dict[str, Any]) -> None:
    """Mark the token used; of two concurrent uses, only one gets past this."""
    spent = SPENT_ONE_TIME.format(claims["jti"])
    if not security_store.current.add(spent, 1, ONE_TIME_LIFETIMES[purpose]):
        raise ApiError("This link was already used.", code="token_used")
