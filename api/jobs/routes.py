"""Poll, list and cancel jobs."""

from __future__ import annotations

import uuid
from typing import Any

from flask_smorest import Blueprint

from api.jobs import service
from api.jobs.models import Job
from api.jobs.schemas import JobListArgsSchema, JobSchema, JobWaitArgsSchema
from api.pagination import page_schema, paginate
from api.ratelimits import limit_from_setting
from api.security import current_caller, require_user

blp = Blueprint(
    "jobs", __name__, url_prefix="/api/v1/jobs", description="Background jobs: poll, list, cancel."
)


@blp.route("/<uuid:job_id>")
@limit_from_setting("RATELIMIT_JOB_POLL")
@blp.arguments(JobWaitArgsSchema, location="query", as_kwargs=True)
@blp.response(200, JobSchema)
@blp.alt_response(404, description="No such job, or not yours.")
def get_job(job_id: uuid.UUID, wait: float) -> Job:
    """Poll a job; `?wait=N` answers as soon as it is terminal or after N seconds."""
    caller = current_caller()
    if wait:
        return service.wait_for_terminal(job_id, caller, wait)
    return service.get_visible(job_id, caller)


@blp.route("")
@blp.arguments(JobListArgsSchema, location="query", as_kwargs=True)
@blp.response(200, page_schema(JobSchema))
@blp.alt_response(401, description="Sign in to list your jobs.")
def list_jobs(
    page: int, per_page: int, kind: str | None = None, status: str | None = None
) -> dict[str, Any]:
    """The caller's jobs, newest first."""
    return paginate(service.list_for(require_user(), kind, status), page, per_page)


@blp.route("/<uuid:job_id>/cancel", methods=["POST"])
@blp.response(200, JobSchema)
@blp.alt_response(404, description="No such job, or not yours.")
@blp.alt_response(409, description="The job already finished.")
def cancel_job(job_id: uuid.UUID) -> Job:
    """Cancel a queued or running job."""
    return service.cancel(job_id, current_caller())
