"""Poll, list and cancel jobs; the caller's webhook secret and a job's delivery attempts."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Response, stream_with_context
from marshmallow import Schema, fields

from api.contract import Blueprint
from api.jobs import service, webhooks
from api.jobs.http import client_gone_check
from api.jobs.models import Job
from api.jobs.schemas import (
    JobEventsArgsSchema,
    JobListArgsSchema,
    JobSchema,
    JobWaitArgsSchema,
)
from api.pagination import page_schema, paginate
from api.ratelimits import limit_from_setting
from api.responses import ApiResponse
from api.security import current_caller, optional_auth, require_user, signed_in

blp = Blueprint(
    "jobs", __name__, url_prefix="/api/v1/jobs", description="Background jobs: poll, list, cancel."
)


@blp.route("/<uuid:job_id>")
@optional_auth
@limit_from_setting("RATELIMIT_JOB_POLL")
@blp.arguments(JobWaitArgsSchema(), location="query", as_kwargs=True)
@blp.response(200, JobSchema)
@blp.alt_response(404, description="No such job, or not yours.")
def get_job(job_id: uuid.UUID, wait: float) -> Job | tuple[Job, int, dict[str, str]]:
    """Poll a job; `?wait=N` answers as soon as it is terminal or after N seconds (at once,
    with `Retry-After`, when this node already holds as many waiters as it allows)."""
    caller = current_caller()
    if wait:
        job, waited = service.wait_for_terminal(job_id, caller, wait, client_gone_check())
        return job if waited else (job, 200, {"Retry-After": "1"})
    return service.get_visible(job_id, caller)


@blp.route("/<uuid:job_id>/events")
@optional_auth
@limit_from_setting("RATELIMIT_JOB_POLL")
@blp.arguments(JobEventsArgsSchema(), location="headers", as_kwargs=True)
@blp.doc(
    responses={
        200: {
            "description": (
                "Server-Sent Events: `event: job`, `id: <version>`, `data: <job object>` for the "
                "job now and after each status or progress change, ending with the terminal "
                "job. Comments (`: keep-alive`) keep idle streams open. A stream lasts at most "
                "SSE_MAX_SECONDS; reconnect with `Last-Event-ID` to resume (only newer versions "
                "are sent). When the node holds as many waiters as it allows, one event with the "
                "job as it stands and `Retry-After`."
            ),
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        }
    }
)
@blp.alt_response(404, description="No such job, or not yours.")
def job_events(job_id: uuid.UUID, last_event_id: int | None = None) -> Response:
    """Stream the job's changes as Server-Sent Events (same visibility as the poll)."""
    stream, headers = service.event_stream(
        job_id, current_caller(), last_event_id, client_gone_check()
    )
    return ApiResponse(stream_with_context(stream), mimetype="text/event-stream", headers=headers)


@blp.route("")
@signed_in
@blp.arguments(JobListArgsSchema(), location="query", as_kwargs=True)
@blp.response(200, page_schema(JobSchema))
@blp.alt_response(401, description="Sign in to list your jobs.")
def list_jobs(
    page: int, per_page: int, kind: str | None = None, status: str | None = None
) -> dict[str, Any]:
    """The caller's jobs, newest first."""
    return paginate(service.list_for(require_user(), kind, status), page, per_page)


@blp.route("/<uuid:job_id>/cancel", methods=["POST"])
@optional_auth
@blp.response(200, JobSchema)
@blp.alt_response(404, description="No such job, or not yours.")
@blp.alt_response(409, description="The job already finished.")
def cancel_job(job_id: uuid.UUID) -> Job:
    """Cancel a queued or running job."""
    return service.cancel(job_id, current_caller())


webhooks_blp = Blueprint(
    "webhooks", __name__, url_prefix="/api/v1", description="Signed job webhooks."
)


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


@webhooks_blp.route("/webhooks/secret")
@signed_in
@webhooks_blp.response(200, SecretSchema)
@webhooks_blp.alt_response(401, description="Not signed in.")
def show_secret() -> dict[str, str]:
    """The key your webhooks are signed with (created on first use)."""
    return {"secret": webhooks.secret_for(require_user().user_id)}


@webhooks_blp.route("/webhooks/secret/rotate", methods=["POST"])
@signed_in
@webhooks_blp.response(200, SecretSchema)
@webhooks_blp.alt_response(401, description="Not signed in.")
def rotate_secret() -> dict[str, str]:
    """Replace the signing key; later deliveries use the new one."""
    return {"secret": webhooks.rotate_secret(require_user().user_id)}


@webhooks_blp.route("/jobs/<uuid:job_id>/deliveries")
@optional_auth
@webhooks_blp.response(200, AttemptSchema(many=True))
@webhooks_blp.alt_response(404, description="No such job, or not yours.")
def deliveries(job_id: uuid.UUID) -> list[dict[str, Any]]:
    """Every attempt to deliver this job's webhook, oldest first."""
    job = service.get_visible(job_id, current_caller())
    return webhooks.attempts_for(job.id)
