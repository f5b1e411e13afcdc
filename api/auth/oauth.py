"""The OAuth sign-in flow: state, nonce and PKCE kept in the security store, accounts linked by
identity or by a provider-verified email, and the hand-over to the frontend.

The callback runs in the user's browser tab, so it never shows tokens there: it redirects to
`{FRONTEND_URL}/oauth/done?code=...` with a one-time code (OAUTH_CODE_TTL_SECONDS, single use:
taken with one GETDEL), which the frontend exchanges for the token pair with
`POST /api/v1/auth/oauth/exchange`. The store keeps only the code's hash and the user it is
for; the tokens are made at the exchange. A client that asks for JSON (`Accept:
application/json` preferred to HTML) gets the pair from the callback itself, as API.md's
first version promised.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import secrets
import time
import uuid
from typing import Any
from urllib.parse import urlencode

from flask import current_app
from sqlalchemy import delete, func, select

from api.auth import tokens
from api.database import affected, on_commit
from api.errors import ApiError, Forbidden, NotFound
from api.extensions import db, oauth_providers, security_store
from api.integrations.errors import IntegrationError
from api.integrations.oauth import AuthorizationRequest, OAuthProfile, OAuthProvider
from api.models import utcnow
from api.users.models import OAuthIdentity, User

STATE_KEY = "oauth-state:{}"
CODE_KEY = "oauth-code:{}"

log = logging.getLogger(__name__)


def _provider(name: str) -> OAuthProvider:
    provider = oauth_providers.current.get(name)
    if provider is None:
        raise NotFound("This sign-in method is not available.", code="provider_not_available")
    return provider


def start_login(provider_name: str, redirect_uri: str) -> str:
    """The provider's authorization URL; the state, nonce and PKCE verifier wait in the cache."""
    provider = _provider(provider_name)
    state, nonce, verifier = (secrets.token_urlsafe(32) for _ in range(3))
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    security_store.current.set(
        STATE_KEY.format(state),
        {"provider": provider_name, "nonce": nonce, "verifier": verifier},
        current_app.config["OAUTH_STATE_TTL_SECONDS"],
    )
    request = AuthorizationRequest(
        state=state,
        nonce=nonce,
        code_challenge=challenge.decode().rstrip("="),
        redirect_uri=redirect_uri,
    )
    return provider.authorization_url(request)


def finish_login(provider_name: str, args: dict[str, str], redirect_uri: str) -> User:
    """The account the provider's answer signs in (its last sign-in time set)."""
    provider = _provider(provider_name)
    state = args.get("state", "")
    saved = security_store.current.take(STATE_KEY.format(state)) if state else None  # once
    if not saved or saved["provider"] != provider_name:
        raise ApiError(
            "This sign-in attempt could not be verified; please start again.",
            code="oauth_state_invalid",
        )
    if args.get("error") or not args.get("code"):
        raise ApiError("The sign-in was cancelled at the provider.", code="oauth_denied")
    try:
        profile = provider.exchange(
            args["code"],
            nonce=saved["nonce"],
            code_verifier=saved["verifier"],
            redirect_uri=redirect_uri,
        )
    except IntegrationError as exc:
        raise ApiError(
            "We could not complete your sign-in with this provider; please try again.",
            code=exc.code,
            status=503 if exc.retryable else 400,
        ) from exc
    user = link_or_create(profile)
    user.last_login_at = utcnow()
    return user


def finish_for_api(provider_name: str, args: dict[str, str], redirect_uri: str) -> dict[str, Any]:
    """The callback's JSON answer: the token pair itself (errors are problems)."""
    user = finish_login(provider_name, args, redirect_uri)
    return tokens.issue_pair(user)


def finish_in_browser(provider_name: str, args: dict[str, str], redirect_uri: str) -> str:
    """Where the browser goes next: the frontend, with a one-time code, or with `error` (the
    problem's code) when the sign-in failed; a failed sign-in writes nothing."""
    try:
        user = finish_login(provider_name, args, redirect_uri)
    except ApiError as exc:
        db.session.rollback()  # the redirect is a 3xx, which would otherwise commit
        return frontend_done(error=exc.code)
    return frontend_done(code=issue_code(user))


def frontend_done(**query: str) -> str:
    return f"{current_app.config['FRONTEND_URL'].rstrip('/')}/oauth/done?{urlencode(query)}"


def _code_key(code: str) -> str:
    return CODE_KEY.format(hashlib.sha256(code.encode()).hexdigest())


def issue_code(user: User) -> str:
    """A one-time code the frontend exchanges for this user's tokens (stored after the
    commit that signed the user in, so a rolled-back sign-in leaves no usable code)."""
    code = secrets.token_urlsafe(32)
    entry = {"uid": str(user.id), "ver": user.session_version, "auth_time": int(time.time())}
    ttl = current_app.config["OAUTH_CODE_TTL_SECONDS"]
    on_commit(lambda: security_store.current.set(_code_key(code), entry, ttl))
    return code


def exchange_code(code: str) -> dict[str, Any]:
    """The token pair for a one-time code; a used, expired or unknown code is 400."""
    entry = security_store.current.take(_code_key(code))  # once: of two takers, one wins
    user = db.session.get(User, uuid.UUID(entry["uid"])) if entry else None
    if entry is None or user is None or not user.is_active or user.session_version != entry["ver"]:
        raise ApiError(
            "This sign-in code is not valid (used, expired or unknown); please sign in again.",
            code="invalid_code",
        )
    return tokens.issue_pair(user, auth_time=entry["auth_time"])


def link_or_create(profile: OAuthProfile) -> User:
    """The account for this identity: linked before, matched by verified email, or new."""
    identity = db.session.scalar(
        select(OAuthIdentity).where(
            OAuthIdentity.provider == profile.provider, OAuthIdentity.subject == profile.subject
        )
    )
    user = db.session.get(User, identity.user_id) if identity else None
    if user is None and profile.email and profile.email_verified:
        user = db.session.scalar(select(User).where(User.email == profile.email))
        if user is not None and user.is_active and not user.is_verified:
            _reclaim_unproven(user, profile.provider)  # (a disabled one is refused below)
        if user is not None:
            user.is_verified = True  # the provider vouches for the address
    if user is None:
        user = _new_user(profile)
    if not user.is_active:
        raise Forbidden("This account is disabled.", code="account_disabled")
    if identity is None:
        db.session.add(
            OAuthIdentity(
                user_id=user.id,
                provider=profile.provider,
                subject=profile.subject,
                email=profile.email,
            )
        )
    db.session.flush()
    return user


def _reclaim_unproven(user: User, provider: str) -> None:
    """The provider has just proved who owns this address; whoever set the account up never
    did (it may be a squatter who registered someone else's address, waiting for its owner).
    So everything they could still use stops working before the owner gets the account: the
    password, every session, a pending email change and any other sign-in linked to it."""
    had_password = user.password_hash is not None
    user.password_hash = None
    user.end_sessions()  # also drops a pending email change
    unlinked = affected(delete(OAuthIdentity).where(OAuthIdentity.user_id == user.id))
    log.warning(
        "%s sign-in proved the email of unverified account %s: linked after clearing its "
        "password (had one: %s), ending its sessions and unlinking %d other sign-ins",
        provider,
        user.id,
        had_password,
        unlinked,
    )


def _new_user(profile: OAuthProfile) -> User:
    email = profile.email if profile.email and profile.email_verified else None
    user = User(
        id=uuid.uuid4(),
        email=email,
        username=_free_username(profile),
        full_name=(profile.name or "")[:100] or None,
        auth_provider=profile.provider,
        is_verified=email is not None,
        avatar_external_url=(profile.picture or "")[:500] or None,
    )
    db.session.add(user)
    db.session.flush()
    return user


def _free_username(profile: OAuthProfile) -> str:
    source = (profile.email or "").split("@")[0] or profile.name or "traveller"
    base = re.sub(r"[^A-Za-z0-9_.-]+", "", source.replace(" ", "."))
    base = re.sub(r"^[^A-Za-z0-9]+", "", base)[:20] or "traveller"
    candidate = base if len(base) >= 3 else f"{base}-bali"
    while db.session.scalar(
        select(User.id).where(func.lower(User.username) == candidate.lower()).limit(1)
    ):
        candidate = f"{base}-{secrets.token_hex(2)}"
    return candidate
