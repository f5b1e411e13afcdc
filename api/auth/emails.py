"""Every email an account receives: what queues it (`send_*`) and what composes it (for the
email job's table in `workers/email.py`). Links with one-time tokens are made when the worker
sends, never stored in the job's payload."""

from __future__ import annotations

import uuid
from datetime import datetime
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
CONFIRM_NEW_EMAIL = "confirm_new_email"
EMAIL_CHANGE_REQUESTED = "email_change_requested"


def send_verification(user: User) -> None:
    queue_email(VERIFY_EMAIL, user.id, user_id=str(user.id))


def send_password_reset(user: User) -> None:
    queue_email(PASSWORD_RESET, user.id, user_id=str(user.id))


def send_password_changed(user: User) -> None:
    queue_email(PASSWORD_CHANGED, user.id, user_id=str(user.id))


def send_email_change(user: User, new_email: str) -> None:
    """A confirmation link to the new address, and a notice to the current one (if any).

    The addresses and the session version go in the payloads: each job keeps meaning the
    change it was queued for, so a notice retried after the switch still reaches the old
    address, and a link is not sent for a change that was replaced or cancelled meanwhile.
    """
    queue_email(
        CONFIRM_NEW_EMAIL,
        user.id,
        user_id=str(user.id),
        email=new_email,
        ver=str(user.session_version),
    )
    if user.email:
        queue_email(
            EMAIL_CHANGE_REQUESTED,
            user.id,
            user_id=str(user.id),
            old_email=user.email,
            new_email=new_email,
            requested_at=utcnow().isoformat(),
        )


def _account(payload: dict[str, Any]) -> User:
    user = db.session.get(User, uuid.UUID(payload["user_id"]))
    if user is None:
        raise JobFailed("recipient_not_found", "The account this email is for is gone.")
    return user


def _recipient(payload: dict[str, Any]) -> User:
    user = _account(payload)
    if not user.email:
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


def masked_address(address: str) -> str:
    """`n***@example.com`: enough for the owner to recognise, too little to hand over."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}"


def confirm_new_email(payload: dict[str, Any]) -> Composition:
    """The link that moves the account to the new address; its token names the address and
    the session version it was asked under (`service.verify_email` checks both)."""
    user = _account(payload)
    address = payload["email"]
    if user.pending_email != address or str(user.session_version) != payload["ver"]:
        raise JobFailed(
            "email_change_cancelled", "This email change was replaced or cancelled before sending."
        )
    token = tokens.make_one_time_token(
        "verify-email", uid=str(user.id), email=address, ver=payload["ver"]
    )
    mail = Mail(
        key=CONFIRM_NEW_EMAIL,
        to=address,
        subject="Confirm your new BaliBlissed email address",
        template=CONFIRM_NEW_EMAIL,
        context={"user": user, "new_email": address, "link": _frontend_link("verify-email", token)},
    )
    return Composition(mails=[mail])


def email_change_requested_email(payload: dict[str, Any]) -> Composition:
    """Tell the current address that a move away from it was asked for, and what to do if the
    owner did not ask."""
    user = _account(payload)
    mail = Mail(
        key=EMAIL_CHANGE_REQUESTED,
        to=payload["old_email"],
        subject="Your BaliBlissed email address is being changed",
        template=EMAIL_CHANGE_REQUESTED,
        context={
            "user": user,
            "new_email": masked_address(payload["new_email"]),
            "requested_at": datetime.fromisoformat(payload["requested_at"]),
        },
    )
    return Composition(mails=[mail])


COMPOSERS = {
    VERIFY_EMAIL: verification_email,
    PASSWORD_RESET: password_reset_email,
    PASSWORD_CHANGED: password_changed_email,
    CONFIRM_NEW_EMAIL: confirm_new_email,
    EMAIL_CHANGE_REQUESTED: email_change_requested_email,
}
