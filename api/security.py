"""Who is calling: the signed-in user (from a JWT) or an anonymous client (by address).

A present token must be valid, not revoked, and belong to an active user whose sessions were
not ended after it was issued (password change, reset, deactivation); otherwise the request is
refused with 401, never treated as anonymous. Revocations live in the security store (Redis in
production, never evicted) with a TTL equal to the token lifetime; when it cannot answer, the
request is refused (503): a revoked token is never accepted.

This module depends only on the user model; `api.auth` issues tokens and revokes them here.
"""

from __future__ import annotations

import functools
import hmac
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Flask, Response, current_app, g, request
from flask_jwt_extended import get_jwt, verify_jwt_in_request
from sqlalchemy import bindparam, select

from api.database import read_row
from api.errors import Forbidden, ServiceUnavailable, Unauthorized, problem
from api.extensions import db, jwt, security_store
from api.openapi import BEARER_SCHEME, OPERATOR_SCHEME, Access
from api.users.models import User

BEARER_HEADER = {"WWW-Authenticate": "Bearer"}
USER_BY_ID = select(*User.__table__.columns).where(User.id == bindparam("user_id"))
REVOKED_TOKEN = "revoked-token:{}"
REVOKED_FAMILY = "revoked-family:{}"


@dataclass(frozen=True)
class Caller:
    user_id: uuid.UUID | None
    role: str | None
    address: str

    @classmethod
    def system(cls, user_id: uuid.UUID | None) -> Caller:
        """The backend acting on its own (e.g. sending a user their verification email)."""
        return cls(user_id=user_id, role=None, address="system")

    @property
    def user(self) -> User | None:
        """The caller's account in the request's unit of work (loaded on first use)."""
        return db.session.get(User, self.user_id) if self.user_id else None

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


@dataclass(frozen=True)
class SignedIn(Caller):
    """A caller known to be signed in (what `require_user` returns)."""

    user_id: uuid.UUID

    @property
    def account(self) -> User:
        user = self.user
        if user is None:  # deleted since the token was checked, within this request
            raise Unauthorized("This account no longer exists.", headers=BEARER_HEADER)
        return user


# --- tokens ----------------------------------------------------------------------------------


def seconds_left(claims: dict[str, Any]) -> int:
    return max(1, int(claims.get("exp", 0) - time.time()))


def is_revoked(claims: dict[str, Any]) -> bool:
    """True when the token or its family was revoked. Fails closed: no answer, no access."""
    try:
        token, family = security_store.current.get_many(
            REVOKED_TOKEN.format(claims.get("jti")), REVOKED_FAMILY.format(claims.get("fam"))
        )
    except Exception as exc:
        raise ServiceUnavailable("Sessions cannot be checked right now; try again soon.") from exc
    return bool(token or family)


def revoke_family(family: str) -> None:
    security_store.current.set(
        REVOKED_FAMILY.format(family), 1, current_app.config["JWT_REFRESH_TOKEN_EXPIRES"]
    )


def revoke_token(claims: dict[str, Any]) -> None:
    security_store.current.set(REVOKED_TOKEN.format(claims["jti"]), 1, seconds_left(claims))


def load_token_user(claims: dict[str, Any]) -> User:
    """The active user a verified token speaks for (one lean SELECT), or 401."""
    try:
        user_id = uuid.UUID(str(claims.get("sub")))
    except ValueError as exc:
        raise Unauthorized("The token does not name a user.", headers=BEARER_HEADER) from exc
    row = read_row(USER_BY_ID, {"user_id": user_id})
    user = None if row is None else User(**row._mapping)
    if user is None or not user.is_active:
        raise Unauthorized("This account no longer exists or is disabled.", headers=BEARER_HEADER)
    if claims.get("ver") != user.session_version:
        raise Unauthorized("This session has ended; sign in again.", headers=BEARER_HEADER)
    return user


def current_caller() -> Caller:
    """The caller of this request (cached for the request)."""
    caller: Caller | None = g.get("caller")
    if caller is None:
        address = request.remote_addr or "unknown"
        # Tokens are read from this header only (the default JWT_TOKEN_LOCATION): without it
        # the caller is anonymous, and a public read pays no JWT machinery.
        if current_app.config["JWT_HEADER_NAME"] not in request.headers:
            caller = g.caller = Caller(user_id=None, role=None, address=address)
            return caller
        verify_jwt_in_request(optional=True)
        claims = get_jwt()
        if claims:
            user = load_token_user(claims)
            caller = SignedIn(user_id=user.id, role=user.role, address=address)
        else:
            caller = Caller(user_id=None, role=None, address=address)
        g.caller = caller
    return caller


def require_user() -> SignedIn:
    """The caller, who must be signed in."""
    caller = current_caller()
    if not isinstance(caller, SignedIn):
        raise Unauthorized("Sign in to use this endpoint.", headers=BEARER_HEADER)
    return caller


def require_role(*roles: str) -> SignedIn:
    """The signed-in caller, who must have one of `roles` (else 403)."""
    caller = require_user()
    if caller.role not in roles:
        raise Forbidden("Your account is not allowed to do this.")
    return caller


# --- access declarations ------------------------------------------------------------------
# Each view says who may call it with one of these; the decorator enforces it before the view
# runs and `api.contract.Blueprint` writes it into the spec (and refuses a view without one).

F = TypeVar("F", bound=Callable[..., Any])
ACCESS_ATTRIBUTE = "_access"
ANONYMOUS: dict[str, list[str]] = {}
BEARER: dict[str, list[str]] = {BEARER_SCHEME: []}


def access_of(view: Callable[..., Any]) -> Access | None:
    access: Access | None = getattr(view, ACCESS_ATTRIBUTE, None)
    return access


def _declare(access: Access, check: Callable[[], object] | None) -> Callable[[F], F]:
    def decorator(view: F) -> F:
        if access_of(view) is not None:
            raise TypeError(f"{view.__qualname__} declares its access twice")
        if check is None:
            wrapper = view
        else:

            @functools.wraps(view)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                check()
                return view(*args, **kwargs)

        setattr(wrapper, ACCESS_ATTRIBUTE, access)
        return wrapper

    return decorator


def public(view: F) -> F:
    """Anyone; the view reads no token (a sent one is ignored)."""
    return _declare(Access("public", ()), None)(view)


def optional_auth(view: F) -> F:
    """Anyone; a token, when sent, must be valid (else 401) and makes the caller known.

    Checked where the caller is first read (`current_caller()`, by the view, its service or
    the rate limiter), not up front: a cached public read that never asks who calls costs no
    token check."""
    return _declare(Access("optional_auth", (ANONYMOUS, BEARER), (401,)), None)(view)


def signed_in(view: F) -> F:
    """A signed-in caller (a valid access token), else 401."""
    return _declare(Access("signed_in", (BEARER,), (401,)), require_user)(view)


def roles_required(*roles: str) -> Callable[[F], F]:
    """A signed-in caller with one of `roles`: 401 without a token, 403 with another role."""
    if not roles:
        raise TypeError("roles_required needs at least one role")
    access = Access("roles_required", (BEARER,), (401, 403), tuple(str(r) for r in roles))
    return _declare(access, lambda: require_role(*roles))


def refresh_token(view: F) -> F:
    """The refresh token (not an access token) in `Authorization: Bearer`, else 401."""
    return _declare(
        Access("refresh_token", (BEARER,), (401,)),
        lambda: verify_jwt_in_request(refresh=True),
    )(view)


def operator_token(view: F) -> F:
    """`Bearer <METRICS_TOKEN>` when METRICS_TOKEN is set (else anyone), for probes/scrapes."""
    return _declare(
        Access("operator_token", (ANONYMOUS, {OPERATOR_SCHEME: []}), (401,)), require_operator
    )(view)


def require_operator() -> None:
    """The detailed health and the metrics cost queries and pings: with METRICS_TOKEN set
    (always in production) only a caller presenting it gets them."""
    token = current_app.config["METRICS_TOKEN"]
    if not token:
        return
    presented = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if not hmac.compare_digest(presented.encode(), token.encode()):
        raise Unauthorized("Send Authorization: Bearer <METRICS_TOKEN>.", headers=BEARER_HEADER)


def _token_problem(detail: str) -> Callable[..., Response]:
    def answer(*_args: Any) -> Response:
        return problem(401, "unauthorized", detail, headers=BEARER_HEADER)

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
