"""The catalogue: seeded from the bundled data set, read through a versioned cache.

Cache keys: `catalogue:version` holds a number; the full list lives at
`catalogue:{version}:all`. Seeding bumps the version, so every cached read is invalidated at
once, on every process, without scanning keys.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import select

from api.catalogue.models import Destination
from api.errors import NotFound
from api.extensions import cache, db

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
VERSION_KEY = "catalogue:version"
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
    db.session.commit()
    cache.set(VERSION_KEY, int(cache.get(VERSION_KEY) or 0) + 1, timeout=0)
    return created, updated


def _as_dict(row: Destination) -> dict[str, Any]:
    return {field: getattr(row, field) for field in FIELDS}


def all_destinations() -> list[dict[str, Any]]:
    """Every destination, ordered by area then name (cached)."""
    key = f"catalogue:{cache.get(VERSION_KEY) or 0}:all"
    destinations = cache.get(key)
    if destinations is None:
        rows = db.session.scalars(select(Destination).order_by(Destination.area, Destination.name))
        destinations = [_as_dict(row) for row in rows]
        cache.set(key, destinations, timeout=CACHE_SECONDS)
    return destinations


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


def known_targets() -> set[str]:
    return {item["slug"] for item in all_destinations()}
