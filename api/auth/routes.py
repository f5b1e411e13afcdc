"""Sign-up, sign-in, sessions, the caller's own account, and OAuth."""

from __future__ import annotations

from typing import Any

from flask import jsonify, redirect, request, url_for
from flask_jwt_extended import get_jwt
from werkzeug.wrappers import Response

from api.auth import oauth, privacy
from api.auth import service as accounts
from api.auth.schemas import (
    AcceptedSchema,
    AccountDeletionSchema,
    AccountExportSchema,
    EmailSchema,
    LoginSchema,
    LogoutSchema,
    OAuthExchangeSchema,
    PasswordChangeSchema,
    PasswordResetSchema,
    RegisterSchema,
    TokenPairSchema,
    TokenSchema,
)
from api.contract import Blueprint
from api.idempotency import idempotent
from api.ratelimits import limit_from_setting
from api.security import load_token_user, public, refresh_token, require_user, signed_in
from api.users.models import User
from api.users.schemas import ProfileUpdateSchema, UserSchema

blp = Blueprint("auth", __name__, url_prefix="/api/v1/auth", description="Accounts and sessions.")

EMAIL_SENT_IF_KNOWN = {"detail": "If an account matches, we have sent it an email."}


@blp.route("/register", methods=["POST"])
@public
@limit_from_setting("RATELIMIT_REGISTER")
@idempotent
@blp.arguments(RegisterSchema())
@blp.response(201, UserSchema)
@blp.alt_response(409, description="Email or username already used.")
@blp.alt_response(422, description="Invalid fields or a weak password.")
def register(data: dict[str, Any]) -> User:
    """Create an account; a verification email follows (an email job)."""
    return accounts.register(data, request.headers.get("X-Client-Timezone"))


@blp.route("/login", methods=["POST"])
@public
@limit_from_setting("RATELIMIT_LOGIN")
@blp.arguments(LoginSchema())
@blp.response(200, TokenPairSchema)
@blp.alt_response(401, description="Wrong credentials.")
@blp.alt_response(423, description="Locked after too many failures.")
def login(data: dict[str, Any]) -> dict[str, Any]:
    """Sign in with email or username and password."""
    return accounts.login(data["login"], data["password"])


@blp.route("/refresh", methods=["POST"])
@refresh_token
@blp.response(200, TokenPairSchema)
@blp.alt_response(401, description="Invalid, expired, revoked or reused refresh token.")
def refresh() -> dict[str, Any]:
    """Trade the refresh token (Authorization: Bearer) for a new pair; it works once."""
    claims = get_jwt()
    return accounts.refresh(claims, load_token_user(claims))


@blp.route("/logout", methods=["POST"])
@signed_in
@blp.arguments(LogoutSchema(), required=False)
@blp.response(204)
def logout(data: dict[str, Any] | None) -> None:
    """End this session; the access and refresh tokens stop working."""
    caller = require_user()
    accounts.logout(get_jwt(), (data or {}).get("refresh_token"), caller.account)


@blp.route("/me")
@signed_in
@blp.response(200, UserSchema)
@blp.alt_response(401, description="Not signed in.")
def me() -> User:
    """The signed-in user's account."""
    return require_user().account


@blp.route("/me", methods=["PATCH"])
@signed_in
@blp.arguments(ProfileUpdateSchema())
@blp.response(200, UserSchema)
@blp.alt_response(409, description="Email or username already used.")
@blp.alt_response(422, description="Invalid fields, or a new email without the right password.")
def update_me(changes: dict[str, Any]) -> User:
    """Edit the profile. A new `email` needs `current_password` and stays `pending_email`
    until the link sent to it is followed; the current address is told."""
    return accounts.update_profile(require_user().account, changes)


@blp.route("/me", methods=["DELETE"])
@signed_in
@blp.arguments(AccountDeletionSchema(), required=False)
@blp.response(204)
@blp.alt_response(401, description="Not signed in.")
@blp.alt_response(403, description="Wrong password, or (no password) no recent sign-in.")
@blp.alt_response(422, description="The password is missing.")
@blp.alt_response(423, description="Locked after too many wrong passwords.")
def delete_me(data: dict[str, Any] | None) -> None:
    """Delete your account: posts, reviews, itineraries, uploads and their files go with it.
    Needs `password`; an account without one (OAuth only) needs a recent sign-in instead."""
    caller = require_user()
    privacy.delete_account(caller.account, (data or {}).get("password"), get_jwt())


@blp.route("/me/export")
@signed_in
@blp.response(200, AccountExportSchema)
@blp.alt_response(401, description="Not signed in.")
def export_me() -> dict[str, Any]:
    """Your data as JSON: account, sign-in methods, posts, reviews, itineraries, uploads and
    the inquiries you sent (at most 1,000 of each; `truncated` names any cut short)."""
    return privacy.export(require_user().account)


@blp.route("/password/change", methods=["POST"])
@signed_in
@blp.arguments(PasswordChangeSchema())
@blp.response(204)
def change_password(data: dict[str, Any]) -> None:
    """Change the password; every session ends, and the owner is told by email."""
    accounts.change_password(require_user().account, data["current_password"], data["new_password"])


@blp.route("/password/forgot", methods=["POST"])
@public
@limit_from_setting("RATELIMIT_ACCOUNT_EMAIL")
@blp.arguments(EmailSchema())
@blp.response(202, AcceptedSchema)
def forgot_password(data: dict[str, Any]) -> dict[str, str]:
    """Email a reset link (always 202, whether or not the account exists)."""
    accounts.forgot_password(data["email"])
    return EMAIL_SENT_IF_KNOWN


@blp.route("/password/reset", methods=["POST"])
@public
@blp.arguments(PasswordResetSchema())
@blp.response(204)
def reset_password(data: dict[str, Any]) -> None:
    """Set a new password with the emailed token; every session ends."""
    accounts.reset_password(data["token"], data["new_password"])


@blp.route("/verify-email", methods=["POST"])
@public
@blp.arguments(TokenSchema())
@blp.response(204)
@blp.alt_response(409, description="The new address was taken by another account meanwhile.")
def verify_email(data: dict[str, Any]) -> None:
    """Confirm the email address with the emailed token (a pending new one becomes the email)."""
    accounts.verify_email(data["token"])


@blp.route("/verify-email/resend", methods=["POST"])
@public
@limit_from_setting("RATELIMIT_ACCOUNT_EMAIL")
@blp.arguments(EmailSchema())
@blp.response(202, AcceptedSchema)
def resend_verification(data: dict[str, Any]) -> dict[str, str]:
    """Send the verification email again (always 202; at most 3 per account per 24 h)."""
    accounts.resend_verification(data["email"])
    return EMAIL_SENT_IF_KNOWN


def _callback_url(provider: str) -> str:
    return url_for("auth.oauth_callback", provider=provider, _external=True)


@blp.route("/oauth/<any(google, wechat):provider>/login")
@public
@limit_from_setting("RATELIMIT_LOGIN")
@blp.response(302)
@blp.alt_response(404, description="This provider is not configured.")
def oauth_login(provider: str) -> Response:
    """Redirect to the provider's sign-in page."""
    return redirect(oauth.start_login(provider, _callback_url(provider)))


@blp.route("/oauth/<any(google, wechat):provider>/callback")
@public
@limit_from_setting("RATELIMIT_LOGIN")
@blp.response(302, description="To `{FRONTEND_URL}/oauth/done?code=...` (or `?error=...`).")
@blp.alt_response(200, schema=TokenPairSchema, description="With `Accept: application/json`.")
@blp.alt_response(400, description="JSON only: state missing or wrong, or the provider refused.")
def oauth_callback(provider: str) -> Response:
    """Where the provider sends the user back. A browser is redirected to the frontend with a
    one-time code for `POST /oauth/exchange` (never tokens in the URL); a client that prefers
    JSON (`Accept: application/json`) gets the token pair here."""
    args, callback = request.args.to_dict(), _callback_url(provider)
    if request.accept_mimetypes.best_match(["text/html", "application/json"]) == (
        "application/json"
    ):
        return jsonify(TokenPairSchema().dump(oauth.finish_for_api(provider, args, callback)))
    return redirect(oauth.finish_in_browser(provider, args, callback))


@blp.route("/oauth/exchange", methods=["POST"])
@public
@limit_from_setting("RATELIMIT_LOGIN")
@blp.arguments(OAuthExchangeSchema())
@blp.response(200, TokenPairSchema)
@blp.alt_response(400, description="The code was used already, expired (60 s) or is unknown.")
def oauth_exchange(data: dict[str, Any]) -> dict[str, Any]:
    """Trade the one-time code from the OAuth redirect for the token pair (once)."""
    return oauth.exchange_code(data["code"])
