"""Media uploads (signed in), their status, deletion, and serving files from local storage."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Response, current_app, request, send_from_directory

from api import idempotency
from api.contract import Blueprint
from api.errors import NotFound
from api.idempotency import idempotent
from api.jobs.http import accepted, submission_from_request
from api.jobs.schemas import JobSchema
from api.jobs.submit import Submission
from api.media import service
from api.media.models import Media
from api.media.schemas import MediaSchema
from api.ratelimits import exempt
from api.security import current_caller, optional_auth, public, require_user, signed_in

blp = Blueprint("media", __name__, description="Photo and video uploads.")
ONE_YEAR = 365 * 24 * 3600


@blp.route("/api/v1/media", methods=["POST"])
@signed_in
@idempotent(deferred=True)
@blp.doc(
    requestBody={
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "file": {"type": "string", "format": "binary", "minLength": 1},
                        "purpose": {"type": "string", "enum": service.PURPOSES},
                        "callback_url": {"type": "string", "format": "uri", "maxLength": 1024},
                    },
                    "required": ["file"],
                }
            }
        },
    }
)
@blp.response(202, JobSchema)
@blp.alt_response(413, description="Over 5 MB for an image or 50 MB for a video.")
@blp.alt_response(415, description="Not a JPEG, PNG, WebP, GIF, MP4, WebM or MOV file.")
@blp.alt_response(422, description="No file, an empty file, or an unknown purpose.")
def upload() -> tuple[Any, int, dict[str, Any]]:
    """Upload a photo or video (field `file`, optional `purpose`); a media job processes it."""

    def submission_for(digest: str, callback_url: str | None) -> Submission:
        idempotency.begin(digest)  # a repeated upload is answered from here
        return submission_from_request(callback_url)

    return accepted(service.upload(request, submission_for))


@blp.route("/api/v1/media/<uuid:media_id>")
@signed_in
@blp.response(200, MediaSchema)
@blp.alt_response(404, description="No such media, or not yours.")
def get_media(media_id: uuid.UUID) -> Media:
    """An upload's status, size, dimensions (as displayed) and URLs."""
    return service.get_visible(media_id, require_user())


@blp.route("/api/v1/media/<uuid:media_id>", methods=["DELETE"])
@optional_auth
@blp.response(204)
@blp.alt_response(404, description="No such media, or not yours.")
def delete_media(media_id: uuid.UUID) -> None:
    """Delete an upload; its stored files are removed by a media job."""
    service.delete(media_id, current_caller())


@blp.route("/media/<path:key>")
@public
@exempt
@blp.doc(responses={200: {"description": "The file, cacheable for a year."}})
def serve(key: str) -> Response:
    """Files of the local storage provider (keys are random and never reused)."""
    if current_app.config["STORAGE_PROVIDER"] != "local":
        raise NotFound("Media are served by the storage provider.")
    response = send_from_directory(current_app.config["UPLOAD_DIR"], key, max_age=ONE_YEAR)
    response.headers["Cache-Control"] = f"public, max-age={ONE_YEAR}, immutable"
    return response
