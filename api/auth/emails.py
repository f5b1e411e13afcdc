"""Every email an account receives: what queues it (`send_*`) and what composes it (for the
email job's table in `workers/email.py`). Links with one-time tokens are made when the worker
sends, never stored in the job's payload."""

from __future__ import annotations

import uuid
from typing import Any

from flask import current_app

from api.auth import tokens
from api.extensions import db
from api.jobs.errors import JobFailed
from api.mail.service import Composition, Mail, queue_email
from api.models import utcnow
from api.users.models import User

VERIFY_EMAIL = "verify_email"
PASSWORD_RESET = "password_reset"
PASSWORD_CHANGED = "password_changed"


def send_verification(user: User) -> None:
    queue_email(VERIFY_EMAIL, user.id, user_id=str(user.id))


def send_password_reset(user: User) -> None:
    queue_email(PASSWORD_RESET, user.id, user_id=str(user.id))


def send_password_changed(user: User) -> None:
    queue_email(PASSWORD_CHANGED, user.id, user_id=str(user.id))


def _recipient(payload: dict[str, Any]) -> User:
    user = db.session.get(User, uuid.UUID(payload["user_id"]))
    if user is None or not user.email:
        raise JobFailed("recipient_not_found", "The account this email is for is gone.")
    return user


def _account_email(user: User, template: str, subject: str, **context: Any) -> Composition:
    """One message to the account's owner; `template` also names it within the job."""
    return Composition(
        mails=[
            Mail(
                key=template,
                to=user.email or "",
                subject=subject,
                template=template,
                context={"user": user, **context},
            )
        ]
    )


def _frontend_link(path: str, token: str) -> str:
    return f"{current_app.config['FRONTEND_URL']}/{path}?token={token}"


def verification_email(payload: dict[str, Any]) -> Composition:
    user = _recipient(payload)
    token = tokens.make_one_time_token("verify-email", uid=str(user.id), email=user.email or "")
    return _account_email(
        user,
        VERIFY_EMAIL,
        "Verify your BaliBlissed account",
        link=_frontend_link("verify-email", token),
    )


def password_reset_email(payload: dict[str, Any]) -> Composition:
    user = _recipient(payload)
    token = tokens.make_one_time_token(
        "password-reset", uid=str(user.id), pw=tokens.password_fingerprint(user.password_hash)
    )
    return _account_email(
        user,
        PASSWORD_RESET,
        "Reset your BaliBlissed password",
        link=_frontend_link("reset-password", token),
    )


def password_changed_email(payload: dict[str, Any]) -> Composition:
    user = _recipient(payload)
    return _account_email(
        user, PASSWORD_CHANGED, "Your BaliBlissed password was changed", changed_at=utcnow()
    )


COMPOSERS = {
    VERIFY_EMAIL: verification_email,
    PASSWORD_RESET: password_reset_email,
    PASSWORD_CHANGED: password_changed_email,
}
