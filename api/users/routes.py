"""Public profiles and testimonials; user management for administrators."""

from __future__ import annotations

import uuid
from typing import Any

from api.auth import service as accounts
from api.contract import Blueprint
from api.pagination import page_schema, paginate
from api.security import current_caller, optional_auth, public, require_user, roles_required
from api.users import service
from api.users.models import Role, User
from api.users.schemas import (
    AdminUserCreateSchema,
    AdminUserSchema,
    AdminUserUpdateSchema,
    PublicUserSchema,
    TestimonialListArgsSchema,
    TestimonialModerationSchema,
    TestimonialSchema,
    UserListArgsSchema,
)

blp = Blueprint("users", __name__, url_prefix="/api/v1", description="Users and testimonials.")


@blp.route("/users/by-username/<string:username>")
@public
@blp.response(200, PublicUserSchema)
@blp.alt_response(404, description="No such user.")
def public_profile(username: str) -> User:
    """A traveller's public profile (no email, phone or birth date)."""
    return service.public_profile(username)


@blp.route("/testimonials")
@optional_auth
@blp.arguments(TestimonialListArgsSchema(), location="query")
@blp.response(200, page_schema(TestimonialSchema))
@blp.alt_response(403, description="`status` other than approved: moderators only.")
def testimonials(args: dict[str, Any]) -> dict[str, Any]:
    """Approved testimonials, newest first (moderators: `status=pending|rejected`). Your own
    pending one is in `GET /api/v1/auth/me` (`testimonial_status`)."""
    query = service.testimonials(current_caller(), args.get("status"))
    return paginate(query, args["page"], args["per_page"])


@blp.route("/testimonials/<uuid:user_id>", methods=["PATCH"])
@roles_required(Role.MODERATOR, Role.ADMIN)
@blp.arguments(TestimonialModerationSchema())
@blp.response(200, TestimonialSchema)
@blp.alt_response(403, description="Moderators and administrators only.")
@blp.alt_response(404, description="No such user, or no testimonial.")
@blp.alt_response(409, description="The testimonial was edited meanwhile.")
def moderate_testimonial(data: dict[str, Any], user_id: uuid.UUID) -> User:
    """Approve (publish) or reject a user's testimonial."""
    return service.moderate_testimonial(user_id, data["status"])


@blp.route("/users")
@roles_required(Role.ADMIN)
@blp.arguments(UserListArgsSchema(), location="query")
@blp.response(200, page_schema(AdminUserSchema))
@blp.alt_response(403, description="Administrators only.")
def list_users(args: dict[str, Any]) -> dict[str, Any]:
    """All users, newest first (filters: role, is_verified, is_active, q)."""
    page, per_page = args.pop("page"), args.pop("per_page")
    return paginate(service.search(args), page, per_page)


@blp.route("/users", methods=["POST"])
@roles_required(Role.ADMIN)
@blp.arguments(AdminUserCreateSchema())
@blp.response(201, AdminUserSchema)
@blp.alt_response(403, description="Administrators only.")
@blp.alt_response(409, description="Email or username already used.")
@blp.alt_response(422, description="Invalid fields or a weak password.")
def create_user(data: dict[str, Any]) -> User:
    """Create an account (unverified, with a verification email, unless `is_verified`)."""
    return accounts.create_by_admin(data)


@blp.route("/users/<uuid:user_id>")
@roles_required(Role.ADMIN)
@blp.response(200, AdminUserSchema)
@blp.alt_response(403, description="Administrators only.")
@blp.alt_response(404, description="No such user.")
def get_user(user_id: uuid.UUID) -> User:
    """One user, with the fields only administrators see."""
    return service.get(user_id)


@blp.route("/users/<uuid:user_id>", methods=["PATCH"])
@roles_required(Role.ADMIN)
@blp.arguments(AdminUserUpdateSchema())
@blp.response(200, AdminUserSchema)
@blp.alt_response(403, description="Administrators only.")
@blp.alt_response(
    409, description="Email or username taken, or an administrator demoting themselves."
)
def update_user(changes: dict[str, Any], user_id: uuid.UUID) -> User:
    """Change a user's role, flags, or correct their email, username and full name."""
    return service.administer(require_user(), user_id, changes)


@blp.route("/users/<uuid:user_id>", methods=["DELETE"])
@roles_required(Role.ADMIN)
@blp.response(204)
@blp.alt_response(403, description="Administrators only.")
def delete_user(user_id: uuid.UUID) -> None:
    """Delete a user and what belongs to them."""
    service.delete(require_user(), user_id)
