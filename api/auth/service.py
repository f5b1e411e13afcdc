"""Accounts: registration, sign-in with lockout, sessions, email verification and passwords."""

from __future__ import annotations

import time
import uuid
from typing import Any

from flask import current_app
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError

from api.auth import emails, tokens
from api.database import on_commit
from api.errors import ApiError, Conflict, Forbidden, Unauthorized, ValidationFailed
from api.extensions import db, security_store
from api.fields import is_timezone
from api.media import service as media
from api.models import utcnow
from api.security import revoke_family, revoke_token
from api.users import passwords
from api.users.models import Role, User

LOCK_KEY = "login-lock:{}"
FAILURES_KEY = "login-failures:{}"
VERIFICATION_SENDS_KEY = "verification-sends:{}"
RESET_SENDS_KEY = "password-reset-sends:{}"


class AccountLocked(ApiError):
    status = 423
    code = "account_locked"


def password_level() -> str:
    """The Argon2id cost level new hashes are made at."""
    return current_app.config["PASSWORD_SECURITY_LEVEL"]


def normalise_email(email: str) -> str:
    return email.strip().lower()


def find_by_login(login: str) -> User | None:
    """The user whose email or username (case-insensitive) is `login`."""
    login = login.strip().lower()
    return db.session.scalar(
        select(User).where(or_(User.email == login, func.lower(User.username) == login))
    )


def check_password_policy(password: str, *, email: str | None, username: str | None) -> None:
    problems = passwords.policy_problems(password, email=email, username=username)
    if problems:
        raise ValidationFailed("The password is not acceptable.", errors={"password": problems})


def _ensure_available(email: str | None, username: str | None, exclude: uuid.UUID | None) -> None:
    def taken(condition: Any) -> bool:
        query = select(User.id).where(condition)
        if exclude is not None:
            query = query.where(User.id != exclude)
        return db.session.scalar(query.limit(1)) is not None

    if email and taken(User.email == email):
        raise Conflict("An account with this email already exists.", code="email_taken")
    if username and taken(func.lower(User.username) == username.lower()):
        raise Conflict("This username is taken.", code="username_taken")


def valid_timezone(name: str | None) -> str | None:
    return name if is_timezone(name) else None


# --- registration and sign-in ----------------------------------------------------------------


def _new_account(email: str, username: str, password: str | None, **fields: Any) -> User:
    """One way to make an account: the password policy (when there is a password), free
    email and username, then the row flushed so a racing duplicate is a 409, not a 500."""
    email = normalise_email(email)
    if password is not None:
        check_password_policy(password, email=email, username=username)
    _ensure_available(email, username, exclude=None)
    user = User(
        id=uuid.uuid4(),
        email=email,
        username=username,
        password_hash=passwords.hash_password(password, password_level()) if password else None,
        **fields,
    )
    db.session.add(user)
    _flush_account()
    return user


def register(data: dict[str, Any], client_timezone: str | None) -> User:
    user = _new_account(
        data["email"],
        data["username"],
        data["password"],
        full_name=data.get("full_name"),
        timezone=valid_timezone(client_timezone),
    )
    emails.send_verification(user)
    # This first email counts against the daily quota, once the account exists.
    on_commit(lambda: _count(VERIFICATION_SENDS_KEY.format(user.id), 86400))
    return user


def create_admin(*, email: str, username: str, password: str, full_name: str | None) -> User:
    """An administrator, verified from the start (the CLI's `users create-admin`)."""
    return _new_account(
        email, username, password, full_name=full_name, role=Role.ADMIN, is_verified=True
    )


def create_by_admin(data: dict[str, Any]) -> User:
    """A user made by an administrator (POST /api/v1/users). Without `password` the account
    has none until its owner sets one through the reset flow; unless `is_verified` is given,
    the address is unverified and gets the verification email."""
    user = _new_account(
        data["email"],
        data["username"],
        data.get("password"),
        full_name=data.get("full_name"),
        role=data.get("role", Role.USER),
        is_verified=data.get("is_verified", False),
    )
    if not user.is_verified:
        emails.send_verification(user)
    return user


def correct_by_admin(user: User, changes: dict[str, Any]) -> None:
    """An administrator corrects the email, username or full name. A new email is not
    vouched for by anyone (the admin may have mistyped it too): it becomes the sign-in at
    once, unverified (unless the same request sets `is_verified`), gets a verification link,
    and any pending change is dropped."""
    new_email = changes.get("email")
    if new_email is not None:
        new_email = normalise_email(new_email)
        if new_email == user.email:
            new_email = None
    username = changes.get("username")
    if username is not None and username == user.username:
        username = None
    _ensure_available(new_email, username, exclude=user.id)
    if username is not None:
        user.username = username
    if "full_name" in changes:
        user.full_name = changes["full_name"]
    if new_email is not None:
        user.email = new_email
        user.pending_email = None
        user.is_verified = bool(changes.get("is_verified", False))
    _flush_account()
    if new_email is not None and not user.is_verified:
        emails.send_verification(user)


def _flush_account() -> None:
    try:
        db.session.flush()
    except IntegrityError as exc:  # a concurrent registration or edit won the race
        db.session.rollback()
        raise Conflict("An account with this email or username already exists.") from exc


def _failure_key(login: str, user: User | None) -> str:
    """Count failures per account when it exists (email and username share a counter)."""
    return str(user.id) if user else login.strip().lower()


def raise_if_locked(subject: str) -> None:
    locked_until = security_store.current.get_many(LOCK_KEY.format(subject))[0]
    if locked_until:
        retry_after = max(1, int(float(locked_until) - time.time()))
        raise AccountLocked(
            f"Too many failed sign-ins. Try again in {retry_after // 60 + 1} minutes.",
            headers={"Retry-After": str(retry_after)},
        )


def _count(key: str, window: int) -> int:
    """Increment a counter that starts at the first event and expires `window` seconds later."""
    return security_store.current.count(key, window)


def record_failure(subject: str) -> None:
    config = current_app.config
    window = config["LOGIN_LOCKOUT_MINUTES"] * 60
    key = FAILURES_KEY.format(subject)
    if _count(key, window) >= config["LOGIN_MAX_ATTEMPTS"]:
        security_store.current.set(LOCK_KEY.format(subject), time.time() + window, window)
        security_store.current.delete(key)


def clear_failures(subject: str) -> None:
    security_store.current.delete(FAILURES_KEY.format(subject))


def login(login_name: str, password: str) -> dict[str, Any]:
    """A token pair; the same 401 (and about the same time) whether or not the user exists."""
    user = find_by_login(login_name)
    subject = _failure_key(login_name, user)
    raise_if_locked(subject)
    stored_hash = user.password_hash if user and user.password_hash else None
    valid = passwords.verify_password(
        stored_hash or passwords.dummy_hash(password_level()), password, password_level()
    )
    if user is None or stored_hash is None or not valid:
        record_failure(subject)
        raise Unauthorized("Wrong email/username or password.", code="invalid_credentials")
    if not user.is_active:
        raise Forbidden("This account is disabled.", code="account_disabled")
    clear_failures(subject)
    if passwords.needs_rehash(stored_hash, password_level()):
        user.password_hash = passwords.hash_password(password, password_level())
    user.last_login_at = utcnow()
    return tokens.issue_pair(user)


def refresh(claims: dict[str, Any], user: User) -> dict[str, Any]:
    tokens.spend_refresh_token(claims)
    return tokens.issue_pair(user, family=claims["fam"], auth_time=claims.get("auth_time", 0))


def logout(access_claims: dict[str, Any], refresh_token: str | None, user: User) -> None:
    """End the session: its family, the access token, and a refresh token of another family."""
    revoke_family(access_claims["fam"])
    revoke_token(access_claims)
    refresh_claims = tokens.decode_refresh_token(refresh_token) if refresh_token else None
    if refresh_claims and refresh_claims.get("sub") == str(user.id):
        revoke_family(refresh_claims["fam"])


# --- email verification ----------------------------------------------------------------------


def _within_quota(key: str, limit: int, window: int) -> bool:
    return _count(key, window) <= limit


def resend_verification(email: str) -> None:
    """Silently does nothing for unknown, verified or over-quota accounts (no enumeration)."""
    user = db.session.scalar(select(User).where(User.email == normalise_email(email)))
    if user is None or user.is_verified or not user.is_active:
        return
    limit = current_app.config["VERIFICATION_EMAILS_PER_DAY"]
    if _within_quota(VERIFICATION_SENDS_KEY.format(user.id), limit, 86400):
        emails.send_verification(user)


def verify_email(token: str) -> None:
    """Confirm the address a link was sent to: the account's email, or a pending new address
    (its token carries `ver`), which then replaces the email."""
    claims = tokens.read_one_time_token("verify-email", token)
    user = db.session.get(User, uuid.UUID(claims["uid"]))
    if user is not None and "ver" in claims:
        _confirm_email_change(user, claims)
        return
    if user is None or user.email != claims["email"]:
        raise ApiError("This link is not valid for your current email.", code="invalid_token")
    tokens.spend_one_time_token("verify-email", claims)
    user.is_verified = True


def _confirm_email_change(user: User, claims: dict[str, Any]) -> None:
    """Move the account to the new address, if that change still stands: not replaced by
    another, not cancelled by ending the sessions (a password change or reset, an OAuth sign-in
    reclaiming the account), and the address not taken by another account meanwhile."""
    address = claims["email"]
    if address != user.pending_email or claims["ver"] != str(user.session_version):
        raise ApiError(
            "This email change was replaced or cancelled; ask for it again.",
            code="invalid_token",
        )
    taken = Conflict(
        "Another account has started using this address since the change was asked for, so it "
        "cannot move to this account. Your email is unchanged.",
        code="email_taken",
    )
    if db.session.scalar(select(User.id).where(User.email == address, User.id != user.id).limit(1)):
        raise taken
    user.email, user.pending_email, user.is_verified = address, None, True
    try:
        db.session.flush()
    except IntegrityError as exc:  # a concurrent registration or change won the race
        db.session.rollback()
        raise taken from exc
    tokens.spend_one_time_token("verify-email", claims)


# --- passwords -------------------------------------------------------------------------------


def forgot_password(email: str) -> None:
    """Always the same answer; sends a reset link to an existing account, within quota."""
    user = db.session.scalar(select(User).where(User.email == normalise_email(email)))
    if user is None or not user.is_active:
        return
    limit = current_app.config["PASSWORD_RESET_EMAILS_PER_HOUR"]
    if _within_quota(RESET_SENDS_KEY.format(user.id), limit, 3600):
        emails.send_password_reset(user)


def reset_password(token: str, new_password: str) -> None:
    claims = tokens.read_one_time_token("password-reset", token)
    user = db.session.get(User, uuid.UUID(claims["uid"]))
    if user is None or claims["pw"] != tokens.password_fingerprint(user.password_hash):
        raise ApiError("This link is no longer valid.", code="invalid_token")
    check_password_policy(new_password, email=user.email, username=user.username)
    tokens.spend_one_time_token("password-reset", claims)
    _set_password(user, new_password)


def change_password(user: User, current_password: str, new_password: str) -> None:
    if not user.password_hash or not passwords.verify_password(
        user.password_hash, current_password, password_level()
    ):
        raise ValidationFailed(
            "The current password is wrong.",
            errors={"current_password": ["The current password is wrong."]},
        )
    check_password_policy(new_password, email=user.email, username=user.username)
    _set_password(user, new_password)


def _set_password(user: User, new_password: str) -> None:
    """Store the new password, end every session, and tell the owner by email."""
    user.password_hash = passwords.hash_password(new_password, password_level())
    user.end_sessions()
    emails.send_password_changed(user)


# --- profile ---------------------------------------------------------------------------------


def update_profile(user: User, changes: dict[str, Any]) -> User:
    """Edit the profile. A new email needs the current password and only becomes pending until
    the link sent to it is followed (`verify_email`): a stolen access token alone can neither
    move the account to another address nor, through a reset sent there, take it over."""
    changes = dict(changes)
    current_password = changes.pop("current_password", None)
    new_email = changes.pop("email", None)
    if new_email is not None:
        new_email = normalise_email(new_email)
        if new_email == user.email:  # unchanged (a form sending every field): nothing to prove
            new_email = None
        else:
            _require_current_password(user, current_password)
    _ensure_available(new_email, changes.get("username"), exclude=user.id)
    if changes.get("avatar_media_id"):
        media.require_usable(changes["avatar_media_id"], user.id, "avatar_media_id", "image")
    if "testimonial" in changes:
        user.set_testimonial(changes.pop("testimonial"))
    for field, value in changes.items():
        setattr(user, field, value)
    if new_email is not None:
        user.pending_email = new_email
        emails.send_email_change(user, new_email)
    return user


def _require_current_password(user: User, password: str | None) -> None:
    """The proof an email change needs beyond the bearer token: checked before anything else,
    so a token alone cannot even learn which addresses are taken."""
    if not user.password_hash:
        message = (
            "This account has no password yet. Set one through the password reset flow "
            "(POST /api/v1/auth/password/forgot), then change the email with it."
        )
        raise ValidationFailed(message, errors={"current_password": [message]})
    if not password:
        message = "Your current password is needed to change the email."
        raise ValidationFailed(message, errors={"current_password": [message]})
    if not passwords.verify_password(user.password_hash, password, password_level()):
        message = "The current password is wrong."
        raise ValidationFailed(message, errors={"current_password": [message]})
