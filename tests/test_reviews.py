"""Reviews: targets, one per user per target (even racing), moderation, summaries, caching."""

from __future__ import annotations

import threading

import pytest

from tests.conftest import create_user, token_for

REVIEW = {
    "target": "tanah-lot-temple",
    "rating": 5,
    "title": "Magic at sunset",
    "content": "Arrive by five, watch the tide come in around the temple.",
}


def review(client, headers, **changes):
    return client.post("/api/v1/reviews", json={**REVIEW, **changes}, headers=headers)


def test_reviews_of_destinations_and_the_agency(app, client):
    me = token_for(app, create_user(app, username="putu"))

    created = review(client, me)
    agency = review(client, me, target="agency", rating=4)

    assert created.status_code == agency.status_code == 201
    body = created.get_json()
    assert body["target"] == "tanah-lot-temple"
    assert body["status"] == "published"
    assert body["author"]["username"] == "putu"
    listed = client.get("/api/v1/reviews?target=tanah-lot-temple").get_json()
    assert [item["id"] for item in listed["items"]] == [body["id"]]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"target": "atlantis"}, "target"),
        ({"rating": 0}, "rating"),
        ({"rating": 6}, "rating"),
        ({"rating": "5"}, "rating"),
        ({"content": "too short"}, "content"),
        ({"content": "x" * 2001}, "content"),
        ({"title": "t" * 101}, "title"),
        ({"media_ids": ["not-a-uuid"]}, "media_ids"),
    ],
)
def test_invalid_reviews_are_422(app, client, change, field):
    response = review(client, token_for(app), **change)

    assert response.status_code == 422
    assert field in response.get_json()["errors"]


def test_one_review_per_user_per_target_even_under_concurrency(app):
    me = token_for(app)
    answers = []
    barrier = threading.Barrier(2)

    def attempt():
        client = app.test_client()
        barrier.wait()
        answers.append(review(client, me).status_code)

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(answers) == [201, 409]
    assert review(app.test_client(), me).get_json()["code"] == "already_reviewed"


def test_summary_maths(app, client):
    for rating in (5, 5, 4, 2):
        assert review(client, token_for(app), rating=rating).status_code == 201

    summary = client.get("/api/v1/reviews/summary?target=tanah-lot-temple").get_json()

    assert summary == {
        "target": "tanah-lot-temple",
        "count": 4,
        "average": 4.0,
        "histogram": {"1": 0, "2": 1, "3": 0, "4": 1, "5": 2},
    }
    empty = client.get("/api/v1/reviews/summary?target=agency").get_json()
    assert empty["count"] == 0
    assert empty["average"] is None
    assert client.get("/api/v1/reviews/summary?target=nowhere").status_code == 422
    assert client.get("/api/v1/reviews/summary").status_code == 422


def test_summaries_are_cached_and_invalidated_by_writes(app, client):
    me = token_for(app)
    created = review(client, me, rating=3).get_json()
    url = "/api/v1/reviews/summary?target=tanah-lot-temple"
    first = client.get(url)
    assert client.get(url, headers={"If-None-Match": first.headers["ETag"]}).status_code == 304

    client.patch(f"/api/v1/reviews/{created['id']}", headers=me, json={"rating": 5})

    assert client.get(url).get_json()["average"] == 5.0


def test_edit_and_delete_by_author_or_moderators(app, client):
    me = token_for(app)
    created = review(client, me).get_json()
    url = f"/api/v1/reviews/{created['id']}"

    assert client.patch(url, headers=token_for(app), json={"rating": 1}).status_code == 403
    assert client.patch(url, headers=me, json={"rating": 4}).get_json()["rating"] == 4
    assert client.patch(url, headers=me, json={"status": "pending"}).status_code == 403
    moderator = token_for(app, role="moderator")
    assert client.patch(url, headers=moderator, json={"title": "Edited"}).status_code == 200
    assert client.delete(url, headers=token_for(app)).status_code == 403
    assert client.delete(url, headers=moderator).status_code == 204


def test_moderation_holds_reviews_until_published(make_app):
    app = make_app(REVIEWS_REQUIRE_MODERATION="true")
    client = app.test_client()
    created = review(client, token_for(app)).get_json()

    assert created["status"] == "pending"
    assert client.get("/api/v1/reviews?target=tanah-lot-temple").get_json()["meta"]["total"] == 0
    moderator = token_for(app, role="moderator")
    queue = client.get("/api/v1/reviews?status=pending", headers=moderator).get_json()
    assert [item["id"] for item in queue["items"]] == [created["id"]]
    client.patch(
        f"/api/v1/reviews/{created['id']}", headers=moderator, json={"status": "published"}
    )
    assert client.get("/api/v1/reviews?target=tanah-lot-temple").get_json()["meta"]["total"] == 1


def test_one_review_by_id_and_pending_ones_only_for_their_author_and_staff(make_app):
    app = make_app(REVIEWS_REQUIRE_MODERATION="true")
    client = app.test_client()
    author = token_for(app)
    moderator = token_for(app, role="moderator")
    published = review(client, moderator, target="agency").get_json()
    pending = review(client, author).get_json()
    assert pending["status"] == "pending"

    public = client.get(f"/api/v1/reviews/{published['id']}")
    assert public.status_code == 200
    assert public.get_json()["content"] == REVIEW["content"]
    assert client.get(f"/api/v1/reviews/{pending['id']}").status_code == 404
    assert client.get(f"/api/v1/reviews/{pending['id']}", headers=token_for(app)).status_code == 404
    for headers in (author, moderator):
        found = client.get(f"/api/v1/reviews/{pending['id']}", headers=headers)
        assert found.status_code == 200
        assert found.get_json()["status"] == "pending"
    assert client.get("/api/v1/reviews/00000000-0000-0000-0000-000000000000").status_code == 404
    assert client.get("/api/v1/reviews/not-a-uuid").status_code == 404
