"""The destinations and activities catalogue (public, cached)."""

from __future__ import annotations

from typing import Any

from flask import Response

from api import response_cache
from api.catalogue import service
from api.catalogue.schemas import (
    DestinationListArgsSchema,
    DestinationPageSchema,
    DestinationSchema,
)
from api.contract import Blueprint
from api.ratelimits import exempt
from api.security import public

blp = Blueprint(
    "catalogue", __name__, url_prefix="/api/v1/destinations", description="Bali destinations."
)


@blp.route("")
@public
@exempt  # cache hits are cheaper than a limit check; misses are charged
@blp.arguments(DestinationListArgsSchema(), location="query")
@blp.response(200, DestinationPageSchema)
@blp.alt_response(304, description="Not modified (If-None-Match).")
def list_destinations(args: dict[str, Any]) -> Response:
    """Destinations and activities (filters: area, category, tag). Cached, with ETag."""
    return response_cache.json_response(*service.cached_list(args))


@blp.route("/<string:slug>")
@public
@exempt  # cache hits are cheaper than a limit check; misses are charged
@blp.response(200, DestinationSchema)
@blp.alt_response(404, description="No such destination.")
def get_destination(slug: str) -> Response:
    """One destination. Cached, with ETag."""
    return response_cache.json_response(*service.cached_destination(slug))
