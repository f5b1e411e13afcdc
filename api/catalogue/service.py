"""The catalogue: seeded from the bundled data set, read through the versioned cache of
`api.response_cache` (namespace `catalogue`; seeding bumps its version)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import select

from api import response_cache
from api.catalogue.models import Destination
from api.catalogue.schemas import DestinationPageSchema, DestinationSchema
from api.errors import NotFound
from api.extensions import cache, db
from api.pagination import page_of

DATA_FILE = Path(__file__).with_name("data") / "destinations.json"
FIELDS = (
    "slug",
    "name",
    "area",
    "category",
    "latitude",
    "longitude",
    "duration_minutes",
    "price_min_usd",
    "price_max_usd",
    "best_time",
    "tags",
    "description",
)
CACHE_SECONDS = 3600


def bundled() -> list[dict[str, Any]]:
    return json.loads(DATA_FILE.read_text())


def seed() -> tuple[int, int]:
    """Insert or update every bundled destination (by slug). Returns (created, updated)."""
    existing = {row.slug: row for row in db.session.scalars(select(Destination))}
    created = updated = 0
    for item in bundled():
        row = existing.get(item["slug"])
        if row is None:
            db.session.add(Destination(**{field: item[field] for field in FIELDS}))
            created += 1
        elif any(getattr(row, field) != item[field] for field in FIELDS):
            for field in FIELDS:
                setattr(row, field, item[field])
            updated += 1
    response_cache.bump("catalogue")
    return created, updated


def _as_dict(row: Destination) -> dict[str, Any]:
    return {field: getattr(row, field) for field in FIELDS}


def all_destinations(version: int | None = None) -> list[dict[str, Any]]:
    """Every destination, ordered by area then name (cached)."""
    if version is None:
        version = response_cache.version("catalogue")
    key = f"catalogue:v{version}:all-destinations"
    destinations = cache.get(key)
    if destinations is None:
        rows = db.session.scalars(select(Destination).order_by(Destination.area, Destination.name))
        destinations = [_as_dict(row) for row in rows]
        cache.set(key, destinations, timeout=CACHE_SECONDS)
    return destinations


def area_name(area: str) -> str:
    """An area's display name: `nusa-islands` -> `Nusa Islands`."""
    return area.replace("-", " ").title()


PLACE_NAMES = "catalogue_place_names"  # app.extensions: (catalogue version, names)


def place_names() -> list[str]:
    """The areas' and destinations' names (what an inquiry or a question may mention).

    Every inquiry's email job reads them: the app keeps them for the catalogue's version, so
    a job pays one Redis GET (the version), not the whole catalogue fetched and unpickled."""
    version = response_cache.version("catalogue")
    kept: tuple[int, list[str]] | None = current_app.extensions.get(PLACE_NAMES)
    if kept is not None and kept[0] == version:
        return kept[1]
    items = all_destinations(version)
    names = sorted({area_name(item["area"]) for item in items} | {item["name"] for item in items})
    current_app.extensions[PLACE_NAMES] = (version, names)
    return names


def search(area: str | None, category: str | None, tag: str | None) -> list[dict[str, Any]]:
    return [
        item
        for item in all_destinations()
        if (area is None or item["area"] == area)
        and (category is None or item["category"] == category)
        and (tag is None or tag in item["tags"])
    ]


def by_slug(slug: str) -> dict[str, Any]:
    for item in all_destinations():
        if item["slug"] == slug:
            return item
    raise NotFound("No destination with this slug.")


def cached_list(filters: dict[str, Any]) -> response_cache.Cached:
    """The public list page for `filters` (page, per_page, area, category, tag), cached."""

    def build() -> dict[str, Any]:
        items = search(filters.get("area"), filters.get("category"), filters.get("tag"))
        return DestinationPageSchema().dump(page_of(items, filters["page"], filters["per_page"]))

    return response_cache.get_or_build(
        "catalogue", f"list:{response_cache.key_for(**filters)}", build
    )


def cached_destination(slug: str) -> response_cache.Cached:
    return response_cache.get_or_build(
        "catalogue", f"slug:{slug}", lambda: DestinationSchema().dump(by_slug(slug))
    )


def known_targets() -> set[str]:
    return {item["slug"] for item in all_destinations()}
