"""User representations: private (the owner and admins), public, and admin edits."""

from __future__ import annotations

from datetime import UTC, date, datetime

from marshmallow import Schema, ValidationError, fields, validate

from api.fields import ChangesSchema, Text, known_timezone
from api.pagination import PageArgsSchema
from api.users.models import Role, TestimonialStatus, User
from api.users.passwords import MAX_LENGTH, MIN_LENGTH

USERNAME = validate.Regexp(
    r"^[A-Za-z0-9][A-Za-z0-9_.-]{2,29}$",
    error="3 to 30 letters, digits, '.', '_' or '-', starting with a letter or digit.",
)
PHONE = validate.Regexp(r"^\+?[0-9][0-9 ()\-]{6,24}$", error="Not a valid phone number.")
ROLES = [role.value for role in Role]
TESTIMONIAL_STATUSES = [status.value for status in TestimonialStatus]


def avatar_url(user: User) -> str | None:
    if user.avatar_media_id and user.avatar is not None:
        return user.avatar.urls.get("thumbnail") or user.avatar.urls.get("original")
    return user.avatar_external_url


def approved_testimonial(user: User) -> str | None:
    """What the public sees: the testimonial once a moderator approved it."""
    return user.testimonial if user.testimonial_status == TestimonialStatus.APPROVED else None


def plausible_birth_date(day: date) -> None:
    today = datetime.now(UTC).date()
    age = today.year - day.year - ((today.month, today.day) < (day.month, day.day))
    if not 13 <= age <= 120:
        raise ValidationError("Age must be between 13 and 120 years.")


class PublicUserSchema(Schema):
    id = fields.UUID()
    username = fields.String()
    full_name = fields.String(allow_none=True)
    avatar_url = fields.Function(avatar_url, metadata={"type": "string", "nullable": True})
    bio = fields.String(allow_none=True)
    website = fields.String(allow_none=True)
    country = fields.String(allow_none=True)
    testimonial = fields.Function(
        approved_testimonial,
        metadata={"type": "string", "nullable": True, "description": "Once approved."},
    )
    created_at = fields.AwareDateTime()


class UserSchema(PublicUserSchema):
    testimonial = fields.Function(
        lambda user: user.testimonial,
        metadata={
            "type": "string",
            "nullable": True,
            "description": "Yours, whatever its moderation status.",
        },
    )
    testimonial_status = fields.String(
        allow_none=True,
        metadata={
            "enum": TESTIMONIAL_STATUSES,
            "description": "Public only when `approved`; a new or edited one is `pending`.",
        },
    )
    email = fields.String(allow_none=True)
    pending_email = fields.String(
        allow_none=True,
        metadata={
            "description": "A new address asked for; it becomes `email` once the link sent to "
            "it is followed. Until then `email` stays the sign-in and receives password resets."
        },
    )
    role = fields.String(metadata={"enum": ROLES})
    is_verified = fields.Boolean()
    auth_provider = fields.String()
    phone_number = fields.String(allow_none=True)
    date_of_birth = fields.Date(allow_none=True)
    timezone = fields.String(allow_none=True)
    updated_at = fields.AwareDateTime()


class AdminUserSchema(UserSchema):
    is_active = fields.Boolean()
    last_login_at = fields.AwareDateTime(allow_none=True)


class ProfileUpdateSchema(ChangesSchema):
    JSON_SCHEMA = {
        **ChangesSchema.JSON_SCHEMA,
        "dependentRequired": {"email": ["current_password"]},  # a new email needs it
    }

    full_name = Text(allow_none=True, validate=validate.Length(min=1, max=100))
    username = Text(validate=USERNAME)
    email = fields.Email(validate=validate.Length(max=254))
    bio = Text(allow_none=True, multiline=True, validate=validate.Length(max=160))
    website = fields.Url(
        allow_none=True, schemes={"http", "https"}, validate=validate.Length(max=300)
    )
    country = Text(allow_none=True, validate=validate.Length(min=1, max=100))
    phone_number = Text(allow_none=True, validate=PHONE)
    date_of_birth = fields.Date(
        allow_none=True,
        validate=plausible_birth_date,
        metadata={"description": "An age between 13 and 120 years."},
    )
    timezone = Text(allow_none=True, validate=known_timezone)
    testimonial = Text(allow_none=True, multiline=True, validate=validate.Length(max=500))
    avatar_media_id = fields.UUID(allow_none=True)
    current_password = fields.String(
        load_only=True,
        validate=validate.Length(max=1024),
        metadata={"description": "Needed to change `email` (and only for that)."},
    )


class AdminUserUpdateSchema(ChangesSchema):
    role = fields.String(validate=validate.OneOf(ROLES))
    is_active = fields.Boolean()
    is_verified = fields.Boolean()
    email = fields.Email(
        validate=validate.Length(max=254),
        metadata={
            "description": "Becomes the sign-in at once, unverified (unless `is_verified` is "
            "sent too), and gets a verification link."
        },
    )
    username = Text(validate=USERNAME)
    full_name = Text(allow_none=True, validate=validate.Length(min=1, max=100))


class AdminUserCreateSchema(Schema):
    email = fields.Email(required=True, validate=validate.Length(max=254))
    username = Text(required=True, validate=USERNAME)
    password = fields.String(
        load_only=True,
        validate=validate.Length(max=1024),
        metadata={
            "minLength": MIN_LENGTH,
            "maxLength": MAX_LENGTH,
            "description": "Optional: without it the owner sets one by the reset flow. Must "
            "not contain the email or username, nor be a common password.",
        },
    )
    full_name = Text(validate=validate.Length(min=1, max=100))
    role = fields.String(load_default=Role.USER.value, validate=validate.OneOf(ROLES))
    is_verified = fields.Boolean(load_default=False)


class UserListArgsSchema(PageArgsSchema):
    role = fields.String(validate=validate.OneOf(ROLES))
    is_verified = fields.Boolean()
    is_active = fields.Boolean()
    q = fields.String(validate=validate.Length(min=1, max=100))


class TestimonialAuthorSchema(Schema):
    username = fields.String()
    full_name = fields.String(allow_none=True)
    avatar_url = fields.Function(avatar_url, metadata={"type": "string", "nullable": True})


class TestimonialSchema(Schema):
    id = fields.UUID(attribute="id", metadata={"description": "The author's user id."})
    author = fields.Function(
        lambda user: TestimonialAuthorSchema().dump(user), metadata={"type": "object"}
    )
    testimonial = fields.String()
    status = fields.String(attribute="testimonial_status", metadata={"enum": TESTIMONIAL_STATUSES})
    updated_at = fields.AwareDateTime()


class TestimonialListArgsSchema(PageArgsSchema):
    status = fields.String(
        validate=validate.OneOf(TESTIMONIAL_STATUSES),
        metadata={"description": "Moderators and administrators only (default `approved`)."},
    )


class TestimonialModerationSchema(Schema):
    status = fields.String(
        required=True,
        validate=validate.OneOf([TestimonialStatus.APPROVED, TestimonialStatus.REJECTED]),
    )
