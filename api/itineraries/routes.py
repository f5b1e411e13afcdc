"""AI itineraries: submit (a job), read, list, delete, and export."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Response

from api.contract import Blueprint
from api.idempotency import idempotent
from api.itineraries import exports, service
from api.itineraries.models import Itinerary
from api.itineraries.schemas import (
    ItineraryRequestSchema,
    ItinerarySchema,
    ItinerarySummarySchema,
)
from api.jobs.http import accepted, submission_from_request
from api.jobs.schemas import CallbackSchema, JobSchema
from api.pagination import PageArgsSchema, page_schema, paginate
from api.ratelimits import limit_from_setting
from api.security import current_caller, optional_auth, require_user, signed_in

blp = Blueprint(
    "itineraries", __name__, url_prefix="/api/v1/itineraries", description="AI itineraries."
)


@blp.route("", methods=["POST"])
@optional_auth
@limit_from_setting("RATELIMIT_ITINERARY")
@idempotent
@blp.arguments(ItineraryRequestSchema())
@blp.response(202, JobSchema)
@blp.alt_response(200, schema=JobSchema, description="Idempotent replay of an earlier request.")
@blp.alt_response(422, description="Invalid fields, or a budget_usd below the minimum.")
def submit_itinerary(data: dict[str, Any]) -> tuple[Any, int, dict[str, Any]]:
    """Ask for a day-by-day itinerary; a worker writes it (poll the job in `Location`)."""
    submission = submission_from_request(data.pop("callback_url", None))
    return accepted(service.submit(data, submission))


@blp.route("")
@signed_in
@blp.arguments(PageArgsSchema(), location="query", as_kwargs=True)
@blp.response(200, page_schema(ItinerarySummarySchema))
@blp.alt_response(401, description="Not signed in.")
def list_itineraries(page: int, per_page: int) -> dict[str, Any]:
    """The caller's itineraries, newest first."""
    return paginate(service.mine(require_user()), page, per_page)


@blp.route("/<uuid:itinerary_id>")
@optional_auth
@blp.response(200, ItinerarySchema)
@blp.alt_response(404, description="No such itinerary, or not yours.")
def get_itinerary(itinerary_id: uuid.UUID) -> Itinerary:
    """An itinerary (anonymous ones are readable by whoever holds the id)."""
    return service.get_visible(itinerary_id, current_caller())


@blp.route("/<uuid:itinerary_id>", methods=["DELETE"])
@signed_in
@blp.response(204)
@blp.alt_response(403, description="Not the owner.")
def delete_itinerary(itinerary_id: uuid.UUID) -> None:
    """Delete one of your itineraries."""
    service.delete(itinerary_id, require_user())


def _download(body: str | bytes, mimetype: str, filename: str) -> Response:
    return Response(
        body,
        mimetype=mimetype,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@blp.route("/<uuid:itinerary_id>/calendar.ics")
@optional_auth
@blp.doc(responses={200: {"description": "text/calendar, one event per activity."}})
@blp.alt_response(422, description="The itinerary has no start date.")
def calendar(itinerary_id: uuid.UUID) -> Response:
    """The itinerary as an iCalendar file (needs a start_date)."""
    itinerary = service.get_visible(itinerary_id, current_caller())
    return _download(exports.calendar_ics(itinerary), "text/calendar", "bali-itinerary.ics")


@blp.route("/<uuid:itinerary_id>/itinerary.md")
@optional_auth
@blp.doc(responses={200: {"description": "text/markdown"}})
def as_markdown(itinerary_id: uuid.UUID) -> Response:
    """The itinerary as Markdown."""
    itinerary = service.get_visible(itinerary_id, current_caller())
    return Response(exports.markdown(itinerary), mimetype="text/markdown")


@blp.route("/<uuid:itinerary_id>/itinerary.txt")
@optional_auth
@blp.doc(responses={200: {"description": "text/plain, sized for a WhatsApp message."}})
def as_text(itinerary_id: uuid.UUID) -> Response:
    """The itinerary as plain text for WhatsApp."""
    itinerary = service.get_visible(itinerary_id, current_caller())
    return Response(exports.whatsapp_text(itinerary), mimetype="text/plain")


@blp.route("/<uuid:itinerary_id>/email", methods=["POST"])
@signed_in
@limit_from_setting("RATELIMIT_ACCOUNT_EMAIL")
@idempotent
@blp.arguments(CallbackSchema(), required=False)
@blp.response(202, JobSchema)
@blp.alt_response(401, description="Sign in: the itinerary goes to your account's email.")
@blp.alt_response(422, description="A callback URL that is not allowed.")
def email_itinerary(
    data: dict[str, Any] | None, itinerary_id: uuid.UUID
) -> tuple[Any, int, dict[str, Any]]:
    """Email the itinerary to the signed-in user (an email job; optional `callback_url`)."""
    caller = require_user()
    submission = submission_from_request((data or {}).get("callback_url"))
    itinerary = service.get_visible(itinerary_id, caller)
    return accepted(exports.send_by_email(itinerary, submission))
