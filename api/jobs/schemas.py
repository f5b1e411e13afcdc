"""The job object of API.md, plus the query arguments of the job endpoints."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from api.jobs.kinds import KINDS
from api.jobs.models import Job, JobStatus
from api.pagination import PageArgsSchema

MAX_WAIT_SECONDS = 30


class JobErrorSchema(Schema):
    code = fields.String()
    message = fields.String()


class JobLinksSchema(Schema):
    self = fields.String()
    result = fields.String(allow_none=True)


class JobSchema(Schema):
    id = fields.UUID()
    kind = fields.String(metadata={"enum": sorted(KINDS)})
    status = fields.String(metadata={"enum": [status.value for status in JobStatus]})
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()
    started_at = fields.AwareDateTime(allow_none=True)
    finished_at = fields.AwareDateTime(allow_none=True)
    attempts = fields.Integer()
    result = fields.Dict(allow_none=True)
    error = fields.Method("dump_error", metadata={"type": "object", "nullable": True})
    links = fields.Method("dump_links", metadata={"type": "object"})

    def dump_error(self, job: Job) -> dict[str, str] | None:
        if job.status != JobStatus.FAILED:
            return None
        return {"code": job.error_code or "failed", "message": job.error_message or ""}

    def dump_links(self, job: Job) -> dict[str, Any]:
        result = job.result if job.status == JobStatus.SUCCEEDED else None
        return {"self": job_url(job), "result": KINDS[job.kind].result_link(result)}


def job_url(job: Job) -> str:
    return f"/api/v1/jobs/{job.id}"


class CallbackSchema(Schema):
    """Mixed into every submission: where to POST the signed result (signed-in callers)."""

    callback_url = fields.Url(
        schemes={"http", "https"},
        require_tld=False,
        validate=validate.Length(max=2048),
        metadata={
            "description": "Receive a signed webhook when the job finishes. Its host must "
            "resolve to a public address (no private, loopback or link-local ones)."
        },
    )


class JobWaitArgsSchema(Schema):
    wait = fields.Float(
        load_default=0,
        validate=validate.Range(min=0, max=MAX_WAIT_SECONDS),
        metadata={"description": "Long-poll: answer when the job is terminal or after N s."},
    )


class JobEventsArgsSchema(Schema):
    last_event_id = fields.Integer(
        data_key="Last-Event-ID",
        validate=validate.Range(min=0),
        metadata={"description": "Resume: only job versions newer than this are sent."},
    )


class JobListArgsSchema(PageArgsSchema):
    kind = fields.String(validate=validate.OneOf(sorted(KINDS)))
    status = fields.String(validate=validate.OneOf([status.value for status in JobStatus]))
