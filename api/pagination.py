"""One pagination style for every list: `?page=&per_page=` in, `{"items", "meta"}` out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from marshmallow import Schema, fields, validate
from sqlalchemy import Select, func, select

from api.extensions import db

DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100


class PageArgsSchema(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    per_page = fields.Integer(
        load_default=DEFAULT_PER_PAGE, validate=validate.Range(min=1, max=MAX_PER_PAGE)
    )


class PageMetaSchema(Schema):
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()
    pages = fields.Integer()


def page_schema(item_schema: type[Schema]) -> type[Schema]:
    """A `{"items": [...], "meta": {...}}` schema around one item schema."""
    name = item_schema.__name__.removesuffix("Schema") + "PageSchema"
    return Schema.from_dict(
        {"items": fields.List(fields.Nested(item_schema)), "meta": fields.Nested(PageMetaSchema)},
        name=name,
    )


def _page(items: Sequence[Any], total: int, page: int, per_page: int) -> dict[str, Any]:
    return {
        "items": items,
        "meta": {
            "page": page,
            "per_page": per_page,
            "total": total,
            "pages": -(-total // per_page),
        },
    }


def paginate(query: Select[Any], page: int, per_page: int) -> dict[str, Any]:
    """Run one page of `query` and count the whole result."""
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    items = db.session.scalars(query.offset((page - 1) * per_page).limit(per_page)).all()
    return _page(items, total or 0, page, per_page)


def page_of(items: Sequence[Any], page: int, per_page: int) -> dict[str, Any]:
    """One page of an in-memory list (small, cached collections)."""
    start = (page - 1) * per_page
    return _page(items[start : start + per_page], len(items), page, per_page)
