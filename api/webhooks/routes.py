"""The caller's webhook signing secret, and the delivery attempts of a job."""

from __future__ import annotations

import uuid
from typing import Any

from flask_smorest import Blueprint
from marshmallow import Schema, fields

from api.jobs import service as jobs
from api.security import current_caller, require_user
from api.webhooks import service

blp = Blueprint("webhooks", __name__, url_prefix="/api/v1", description="Signed job webhooks.")


class SecretSchema(Schema):
    secret = fields.String(metadata={"example": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"})


class AttemptSchema(Schema):
    delivery_id = fields.UUID()
    webhook_id = fields.String()
    event = fields.String()
    url = fields.String()
    delivery_status = fields.String(metadata={"enum": ["pending", "succeeded", "failed"]})
    attempt = fields.Integer()
    status_code = fields.Integer(allow_none=True)
    error = fields.String(allow_none=True)
    duration_ms = fields.Integer()
    attempted_at = fields.AwareDateTime()


@blp.route("/webhooks/secret")
@blp.response(200, SecretSchema)
@blp.alt_response(401, description="Not signed in.")
def show_secret() -> dict[str, str]:
    """The key your webhooks are signed with (created on first use)."""
    return {"secret": service.secret_for(require_user().user)}


@blp.route("/webhooks/secret/rotate", methods=["POST"])
@blp.response(200, SecretSchema)
@blp.alt_response(401, description="Not signed in.")
def rotate_secret() -> dict[str, str]:
    """Replace the signing key; later deliveries use the new one."""
    return {"secret": service.rotate_secret(require_user().user)}


@blp.route("/jobs/<uuid:job_id>/deliveries")
@blp.response(200, AttemptSchema(many=True))
@blp.alt_response(404, description="No such job, or not yours.")
def deliveries(job_id: uuid.UUID) -> list[dict[str, Any]]:
    """Every attempt to deliver this job's webhook, oldest first."""
    job = jobs.get_visible(job_id, current_caller())
    return service.attempts_for(job.id)
