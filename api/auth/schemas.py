"""Auth request and response bodies."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from api.fields import Text
from api.users.passwords import MAX_LENGTH, MIN_LENGTH
from api.users.schemas import USERNAME


def password_field() -> fields.String:
    return fields.String(required=True, load_only=True, validate=validate.Length(max=1024))


def new_password_field(*, required: bool = True) -> fields.String:
    """A password being chosen: the policy (api.users.passwords) checks it and says why."""
    return fields.String(
        required=required,
        load_only=True,
        validate=validate.Length(max=1024),
        metadata={
            "minLength": MIN_LENGTH,
            "maxLength": MAX_LENGTH,
            "description": "Must not contain the email or username, nor be a common password.",
        },
    )


class RegisterSchema(Schema):
    email = fields.Email(required=True, validate=validate.Length(max=254))
    username = Text(required=True, validate=USERNAME)
    password = new_password_field()
    full_name = Text(validate=validate.Length(min=1, max=100))


class LoginSchema(Schema):
    login = Text(required=True, validate=validate.Length(min=1, max=254))
    password = password_field()


class TokenPairSchema(Schema):
    access_token = fields.String()
    refresh_token = fields.String()
    token_type = fields.String(metadata={"example": "bearer"})
    expires_in = fields.Integer(metadata={"description": "Access token lifetime in seconds."})


class LogoutSchema(Schema):
    refresh_token = fields.String(validate=validate.Length(max=4096))


class PasswordChangeSchema(Schema):
    current_password = password_field()
    new_password = new_password_field()


class EmailSchema(Schema):
    email = fields.Email(required=True, validate=validate.Length(max=254))


class TokenSchema(Schema):
    token = fields.String(required=True, validate=validate.Length(min=1, max=2048))


class PasswordResetSchema(TokenSchema):
    new_password = new_password_field()


class AcceptedSchema(Schema):
    detail = fields.String()


class AccountDeletionSchema(Schema):
    password = fields.String(
        load_only=True,
        validate=validate.Length(max=1024),
        metadata={"description": "Required when the account has a password."},
    )


class AccountExportSchema(Schema):
    """The caller's data (see `api.auth.privacy.export`)."""

    exported_at = fields.String()
    account = fields.Dict()
    sign_in_methods = fields.List(fields.Dict())
    posts = fields.List(fields.Dict())
    reviews = fields.List(fields.Dict())
    itineraries = fields.List(fields.Dict())
    inquiries = fields.List(fields.Dict())
    media = fields.List(fields.Dict())
    limit_per_section = fields.Integer()
    truncated = fields.List(fields.String(), metadata={"description": "Sections cut short."})


class OAuthExchangeSchema(Schema):
    code = fields.String(required=True, validate=validate.Length(min=1, max=128))
