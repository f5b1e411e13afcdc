"""Another user's token on every route that names a resource: 403 or 404, never the data, and
nothing changed. Routes are read from the app and each must be classified below, so a new
route fails this file until someone decides who may use it."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask

from api.extensions import db
from api.itineraries.models import Itinerary
from tests.abuse.routes import Route, routes
from tests.abuse.spec_app import collection_app
from tests.conftest import create_user, sql, token_for
from tests.test_blog import POST
from tests.test_inquiries import VALID
from tests.test_media import jpeg_with_exif, upload
from tests.test_reviews import REVIEW

MARKER = "Marker-of-Ketut-7f3a"  # in every resource the owner makes; never in a stranger's answer

# How each route decides who may use it.
PUBLIC = "public"  # anyone (catalogue, published content, docs, probes, sign-in flows)
SELF = "self"  # the caller's own account or lists, by construction (no id of someone else's)
STAFF = "staff"  # moderators or admins only: a plain user gets 403
OWNED = "owned"  # names one resource: only its owner (or staff) may see or change it

CLASSIFIED: dict[str, tuple[str, str | None]] = {
    # rule → (kind, the resource its parameter names, for OWNED)
    "GET /api/v1/admin/cache": (STAFF, None),
    "DELETE /api/v1/admin/cache": (STAFF, None),
    "GET /api/v1/admin/rate-limits": (STAFF, None),
    "GET /api/v1/admin/stats": (STAFF, None),
    "POST /api/v1/auth/login": (PUBLIC, None),
    "POST /api/v1/auth/logout": (SELF, None),
    "GET /api/v1/auth/me": (SELF, None),
    "PATCH /api/v1/auth/me": (SELF, None),
    "DELETE /api/v1/auth/me": (SELF, None),
    "GET /api/v1/auth/me/export": (SELF, None),
    "GET /api/v1/auth/oauth/<any(google, wechat):provider>/callback": (PUBLIC, None),
    "GET /api/v1/auth/oauth/<any(google, wechat):provider>/login": (PUBLIC, None),
    "POST /api/v1/auth/oauth/exchange": (PUBLIC, None),
    "POST /api/v1/auth/password/change": (SELF, None),
    "POST /api/v1/auth/password/forgot": (PUBLIC, None),
    "POST /api/v1/auth/password/reset": (PUBLIC, None),
    "POST /api/v1/auth/refresh": (SELF, None),
    "POST /api/v1/auth/register": (PUBLIC, None),
    "POST /api/v1/auth/verify-email": (PUBLIC, None),
    "POST /api/v1/auth/verify-email/resend": (SELF, None),
    "POST /api/v1/chat": (PUBLIC, None),
    "GET /api/v1/destinations": (PUBLIC, None),
    "GET /api/v1/destinations/<string:slug>": (PUBLIC, None),
    "POST /api/v1/inquiries": (PUBLIC, None),
    "GET /api/v1/inquiries": (STAFF, None),
    "PATCH /api/v1/inquiries/<uuid:inquiry_id>": (STAFF, None),
    "POST /api/v1/itineraries": (PUBLIC, None),
    "GET /api/v1/itineraries": (SELF, None),
    "GET /api/v1/itineraries/<uuid:itinerary_id>": (OWNED, "itinerary"),
    "DELETE /api/v1/itineraries/<uuid:itinerary_id>": (OWNED, "itinerary"),
    "GET /api/v1/itineraries/<uuid:itinerary_id>/calendar.ics": (OWNED, "itinerary"),
    "POST /api/v1/itineraries/<uuid:itinerary_id>/email": (OWNED, "itinerary"),
    "GET /api/v1/itineraries/<uuid:itinerary_id>/itinerary.md": (OWNED, "itinerary"),
    "GET /api/v1/itineraries/<uuid:itinerary_id>/itinerary.txt": (OWNED, "itinerary"),
    "GET /api/v1/jobs": (SELF, None),
    "GET /api/v1/jobs/<uuid:job_id>": (OWNED, "job"),
    "POST /api/v1/jobs/<uuid:job_id>/cancel": (OWNED, "job"),
    "GET /api/v1/jobs/<uuid:job_id>/deliveries": (OWNED, "job"),
    "GET /api/v1/jobs/<uuid:job_id>/events": (OWNED, "job"),
    "POST /api/v1/media": (SELF, None),
    "GET /api/v1/media/<uuid:media_id>": (OWNED, "media"),
    "DELETE /api/v1/media/<uuid:media_id>": (OWNED, "media"),
    "GET /api/v1/posts": (PUBLIC, None),
    "POST /api/v1/posts": (SELF, None),
    "GET /api/v1/posts/<string:slug>": (PUBLIC, None),  # published posts are public
    "PATCH /api/v1/posts/<string:slug>": (OWNED, "post"),
    "DELETE /api/v1/posts/<string:slug>": (OWNED, "post"),
    "GET /api/v1/reviews": (PUBLIC, None),
    "POST /api/v1/reviews": (SELF, None),
    "GET /api/v1/reviews/<uuid:review_id>": (PUBLIC, None),  # approved reviews are public
    "PATCH /api/v1/reviews/<uuid:review_id>": (OWNED, "review"),
    "DELETE /api/v1/reviews/<uuid:review_id>": (OWNED, "review"),
    "GET /api/v1/reviews/summary": (PUBLIC, None),
    "GET /api/v1/testimonials": (PUBLIC, None),
    "PATCH /api/v1/testimonials/<uuid:user_id>": (STAFF, None),
    "GET /api/v1/users": (STAFF, None),
    "POST /api/v1/users": (STAFF, None),
    "GET /api/v1/users/<uuid:user_id>": (STAFF, None),
    "PATCH /api/v1/users/<uuid:user_id>": (STAFF, None),
    "DELETE /api/v1/users/<uuid:user_id>": (STAFF, None),
    "GET /api/v1/users/by-username/<string:username>": (PUBLIC, None),  # the public profile
    "GET /api/v1/webhooks/secret": (SELF, None),
    "POST /api/v1/webhooks/secret/rotate": (SELF, None),
    "GET /docs": (PUBLIC, None),
    "GET /docs/assets/<path:name>": (PUBLIC, None),
    "GET /feed.xml": (PUBLIC, None),
    "GET /health": (PUBLIC, None),
    "GET /health/live": (PUBLIC, None),
    "GET /health/ready": (PUBLIC, None),
    "GET /media/<path:key>": (PUBLIC, None),  # served by unguessable content-addressed key
    "GET /metrics": (PUBLIC, None),
    "GET /openapi.json": (PUBLIC, None),
    "GET /redoc": (PUBLIC, None),
    "GET /sitemap.xml": (PUBLIC, None),
}

MODERATED = {"post", "review"}  # public content that moderators may edit or remove

ALL_ROUTES = list(routes(collection_app()))
OWNED_ROUTES = [r for r in ALL_ROUTES if CLASSIFIED.get(str(r), ("", None))[0] == OWNED]
STAFF_ROUTES = [r for r in ALL_ROUTES if CLASSIFIED.get(str(r), ("", None))[0] == STAFF]


def test_every_route_is_classified():
    unclassified = sorted(str(r) for r in ALL_ROUTES if str(r) not in CLASSIFIED)
    assert not unclassified, (
        f"classify these routes in tests/abuse/test_idor.py (who may use them?): {unclassified}"
    )
    stale = sorted(set(CLASSIFIED) - {str(r) for r in ALL_ROUTES})
    assert not stale, f"routes gone from the app: {stale}"


@dataclass
class Owned:
    """Resources that the owner made, by kind: the value their route parameter takes."""

    owner: uuid.UUID
    owner_headers: dict[str, str]
    ids: dict[str, str]


def make_resources(app: Flask, owner: uuid.UUID | None = None, role: str = "user") -> Owned:
    """One of each kind of resource, made by `owner` (a new user "ketut" by default)."""
    owner = owner or create_user(app, username="ketut")
    headers = token_for(app, owner, role=role)
    client = app.test_client()
    with app.app_context():
        itinerary = Itinerary(
            owner_id=owner,
            title=f"Honeymoon {MARKER}",
            summary=MARKER,
            days=[],
            estimated_budget={},
            source="fallback",
            request={"start_date": "2027-03-01"},
            cache_key="idor",
        )
        db.session.add(itinerary)
        db.session.commit()
        itinerary_id = str(itinerary.id)
    inquiry = client.post("/api/v1/inquiries", json={**VALID, "message": MARKER}, headers=headers)
    assert inquiry.status_code == 202, inquiry.get_json()
    uploaded = upload(client, headers, jpeg_with_exif(64, 48))
    assert uploaded.status_code == 202, uploaded.get_json()
    post = client.post("/api/v1/posts", json={**POST, "title": MARKER}, headers=headers)
    assert post.status_code == 201, post.get_json()
    made = client.post("/api/v1/reviews", json={**REVIEW, "title": MARKER}, headers=headers)
    assert made.status_code == 201, made.get_json()
    media_id = sql(app, "SELECT id FROM media WHERE owner_id = :owner", owner=owner)[0][0]
    return Owned(
        owner,
        headers,
        {
            "itinerary": itinerary_id,
            "job": inquiry.get_json()["id"],
            "media": str(media_id),
            "post": post.get_json()["slug"],
            "review": made.get_json()["id"],
        },
    )


# A valid body for each route that needs one, so the request gets past validation and it is
# the ownership or role check that answers.
BODIES: dict[str, Any] = {
    "PATCH /api/v1/posts/<string:slug>": {"title": "Taken over"},
    "PATCH /api/v1/reviews/<uuid:review_id>": {"title": "Taken over", "rating": 1},
    "PATCH /api/v1/inquiries/<uuid:inquiry_id>": {"status": "closed"},
    "PATCH /api/v1/testimonials/<uuid:user_id>": {"status": "approved"},
    "PATCH /api/v1/users/<uuid:user_id>": {"role": "admin"},
    "POST /api/v1/users": {"email": "sneaky@example.com", "username": "sneaky", "role": "admin"},
    "POST /api/v1/itineraries/<uuid:itinerary_id>/email": {},
}


def snapshot(app: Flask) -> list[Any]:
    """Everything an intruder could change or delete, as the database holds it."""
    return [
        sql(app, "SELECT id, title, summary FROM itineraries ORDER BY id"),
        sql(app, "SELECT id, status FROM jobs ORDER BY id"),
        sql(app, "SELECT id, status FROM media ORDER BY id"),
        sql(app, "SELECT slug, title, content FROM posts ORDER BY slug"),
        sql(app, "SELECT id, title, content, rating FROM reviews ORDER BY id"),
    ]


@pytest.mark.parametrize("role", ["user", "moderator"])
def test_another_users_token_gets_403_or_404_on_every_owned_route(app, role):
    owned = make_resources(app)
    stranger = token_for(app, create_user(app, username="intruder", role=role))
    before = snapshot(app)
    client = app.test_client()
    for route in OWNED_ROUTES:
        resource = CLASSIFIED[str(route)][1]
        assert resource is not None
        if role == "moderator" and resource in MODERATED:
            continue  # moderators may edit anyone's posts and reviews (API.md)
        url = route.url(**dict.fromkeys(route_params(route), owned.ids[resource]))
        response = client.open(
            url, method=route.method, json=BODIES.get(str(route)), headers=stranger
        )
        assert response.status_code in {403, 404}, (str(route), role, response.status_code)
        assert response.headers["Content-Type"] == "application/problem+json", str(route)
        problem = response.get_json()
        assert problem.pop("instance") == url  # the path the intruder asked for, echoed
        text = json.dumps(problem)
        assert MARKER not in text, (str(route), text[:200])
        assert "ketut" not in text, (str(route), text[:200])
    assert snapshot(app) == before
    jobs = sql(
        app, "SELECT count(*) FROM jobs WHERE kind = 'email' AND owner_id <> :o", o=owned.owner
    )
    assert jobs == [(0,)]  # no itinerary was emailed to the intruder


def test_the_owner_still_reaches_every_owned_route(app):
    """The control: the same requests with the owner's token are not refused as a stranger's."""
    owned = make_resources(app)
    client = app.test_client()
    for route in OWNED_ROUTES:
        if route.method != "GET":
            continue  # reading is enough to show the ids are right
        resource = CLASSIFIED[str(route)][1]
        assert resource is not None
        url = route.url(**dict.fromkeys(route_params(route), owned.ids[resource]))
        response = client.get(url, headers=owned.owner_headers)
        assert response.status_code not in {403, 404}, (str(route), response.get_json())


def test_lists_of_ones_own_show_nothing_of_anothers(app):
    owned = make_resources(app)
    stranger = token_for(app, create_user(app, username="intruder"))
    client = app.test_client()
    for route in ALL_ROUTES:
        if CLASSIFIED[str(route)][0] != SELF or route.method != "GET" or "<" in route.rule:
            continue
        response = client.get(route.rule, headers=stranger)
        assert response.status_code == 200, (str(route), response.status_code)
        text = response.get_data(as_text=True)
        assert MARKER not in text, str(route)
        for value in owned.ids.values():
            assert value not in text, (str(route), value)


def test_plain_users_get_403_on_every_staff_route(app):
    user = token_for(app, create_user(app, username="intruder"))
    target = create_user(app, username="ketut")
    client = app.test_client()
    for route in STAFF_ROUTES:
        url = route.url(**dict.fromkeys(route_params(route), target))
        response = client.open(url, method=route.method, json=BODIES.get(str(route)), headers=user)
        assert response.status_code == 403, (str(route), response.status_code)
        assert response.headers["Content-Type"] == "application/problem+json", str(route)
        assert "ketut" not in response.get_data(as_text=True), str(route)


def route_params(route: Route) -> list[str]:
    from tests.abuse.routes import PARAM

    return [match.group(2) for match in PARAM.finditer(route.rule)]
