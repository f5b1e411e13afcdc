"""The destinations and activities catalogue (public, cached)."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint

from api.catalogue import service
from api.catalogue.schemas import DestinationListArgsSchema, DestinationSchema
from api.pagination import page_of, page_schema

blp = Blueprint(
    "catalogue", __name__, url_prefix="/api/v1/destinations", description="Bali destinations."
)


@blp.route("")
@blp.arguments(DestinationListArgsSchema, location="query")
@blp.response(200, page_schema(DestinationSchema))
def list_destinations(args: dict[str, Any]) -> dict[str, Any]:
    """Destinations and activities (filters: area, category, tag)."""
    items = service.search(args.get("area"), args.get("category"), args.get("tag"))
    return page_of(items, args["page"], args["per_page"])


@blp.route("/<string:slug>")
@blp.response(200, DestinationSchema)
@blp.alt_response(404, description="No such destination.")
def get_destination(slug: str) -> dict[str, Any]:
    """One destination."""
    return service.by_slug(slug)
