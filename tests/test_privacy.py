"""Self-service account deletion and the data export (DELETE /auth/me, GET /auth/me/export)."""

from __future__ import annotations

import time
import uuid

from api.auth.tokens import issue_pair
from api.extensions import db
from api.users.models import User
from tests.conftest import PASSWORD, create_user, sql, token_for, wait_for_job
from tests.test_blog import POST
from tests.test_inquiries import VALID
from tests.test_itineraries import REQUEST
from tests.test_media import jpeg_with_exif, local_file, process
from tests.test_reviews import REVIEW


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def login(client, login_name, password=PASSWORD):
    return client.post("/api/v1/auth/login", json={"login": login_name, "password": password})


def test_deleting_your_account_removes_it_its_content_and_its_files(app, client, worker):
    create_user(app, username="leaving")
    tokens = login(client, "leaving").get_json()
    headers = bearer(tokens["access_token"])
    _, avatar = process(client, headers, jpeg_with_exif(200, 200))
    assert (
        client.patch(
            "/api/v1/auth/me", headers=headers, json={"avatar_media_id": avatar["id"]}
        ).status_code
        == 200
    )
    files = [local_file(app, url) for url in avatar["urls"].values() if url]
    assert files
    assert all(path.exists() for path in files)
    assert client.post("/api/v1/posts", headers=headers, json=POST).status_code == 201
    review = client.post("/api/v1/reviews", headers=headers, json=REVIEW).get_json()
    staying = token_for(app)
    kept = client.post("/api/v1/reviews", headers=staying, json=REVIEW)

    response = client.delete("/api/v1/auth/me", headers=headers, json={"password": PASSWORD})

    assert response.status_code == 204
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 401
    refresh = client.post("/api/v1/auth/refresh", headers=bearer(tokens["refresh_token"]))
    assert refresh.status_code == 401
    assert login(client, "leaving").status_code == 401
    assert client.get("/api/v1/posts").get_json()["meta"]["total"] == 0
    assert client.get(f"/api/v1/reviews/{review['id']}").status_code == 404
    reviews = client.get(f"/api/v1/reviews?target={REVIEW['target']}").get_json()
    assert [item["id"] for item in reviews["items"]] == [kept.get_json()["id"]]
    deletion = sql(app, "SELECT id FROM jobs WHERE payload->>'action' = 'delete'")[0][0]
    assert wait_for_job(client, f"/api/v1/jobs/{deletion}")["status"] == "succeeded"
    assert not any(path.exists() for path in files)


def test_a_wrong_or_missing_password_deletes_nothing_and_counts_towards_the_lockout(app, client):
    user_id = create_user(app, username="careful")
    headers = token_for(app, user_id)

    missing = client.delete("/api/v1/auth/me", headers=headers)
    wrong = [
        client.delete("/api/v1/auth/me", headers=headers, json={"password": "not-my-password"})
        for _ in range(5)
    ]
    locked = client.delete("/api/v1/auth/me", headers=headers, json={"password": PASSWORD})

    assert missing.status_code == 422
    assert missing.get_json()["errors"] == {
        "password": ["Your password is needed to delete the account."]
    }
    assert [answer.status_code for answer in wrong[:4]] == [403] * 4
    assert wrong[0].get_json()["code"] == "wrong_password"
    assert wrong[0].headers["Content-Type"] == "application/problem+json"
    assert wrong[4].status_code == 403  # the fifth failure locks the account
    assert locked.status_code == 423
    assert locked.get_json()["code"] == "account_locked"
    assert login(client, "careful").status_code == 423  # the same lock as sign-in
    assert sql(app, "SELECT count(*) FROM users WHERE id = :id", id=user_id) == [(1,)]
    too_long = client.delete("/api/v1/auth/me", headers=headers, json={"password": "x" * 1025})
    assert too_long.status_code == 422
    assert client.delete("/api/v1/auth/me", json={"password": PASSWORD}).status_code == 401


def oauth_only_user(app, *, signed_in_seconds_ago: int) -> tuple[uuid.UUID, dict[str, str]]:
    user_id = create_user(app, username=f"g{uuid.uuid4().hex[:8]}")
    sql(
        app,
        "UPDATE users SET password_hash = NULL, auth_provider = 'google' WHERE id = :id",
        id=user_id,
    )
    with app.app_context():
        pair = issue_pair(
            db.session.get(User, user_id), auth_time=int(time.time()) - signed_in_seconds_ago
        )
    return user_id, pair


def test_an_account_without_a_password_needs_a_recent_sign_in(app, client):
    fresh_id, fresh = oauth_only_user(app, signed_in_seconds_ago=30)
    stale_id, stale = oauth_only_user(app, signed_in_seconds_ago=11 * 60)
    # refreshing a stale session gives new tokens, not a new sign-in
    renewed = client.post("/api/v1/auth/refresh", headers=bearer(stale["refresh_token"]))
    assert renewed.status_code == 200

    refused = client.delete("/api/v1/auth/me", headers=bearer(stale["access_token"]))
    refused_renewed = client.delete(
        "/api/v1/auth/me", headers=bearer(renewed.get_json()["access_token"])
    )
    accepted = client.delete("/api/v1/auth/me", headers=bearer(fresh["access_token"]))

    assert refused.status_code == refused_renewed.status_code == 403
    assert refused.get_json()["code"] == "recent_sign_in_required"
    assert accepted.status_code == 204
    remaining = {row[0] for row in sql(app, "SELECT id FROM users")}
    assert stale_id in remaining
    assert fresh_id not in remaining


def test_the_export_holds_your_data_and_nobody_elses(app, client, worker):
    user_id = create_user(app, username="ayu", email="ayu@example.com")
    headers = token_for(app, user_id)
    other = token_for(app)
    client.patch("/api/v1/auth/me", headers=headers, json={"bio": "Rice terraces"})
    client.post("/api/v1/posts", headers=headers, json=POST)
    client.post("/api/v1/posts", headers=other, json={**POST, "title": "Not mine"})
    client.post("/api/v1/reviews", headers=headers, json=REVIEW)
    client.post("/api/v1/reviews", headers=other, json=REVIEW)
    job = client.post("/api/v1/itineraries", headers=headers, json=REQUEST)
    assert wait_for_job(client, job.headers["Location"], headers=headers)["status"] == "succeeded"
    client.post("/api/v1/inquiries", headers=headers, json={**VALID, "email": "typo@example.com"})
    client.post("/api/v1/inquiries", json=VALID)  # anonymous, from the verified address
    client.post("/api/v1/inquiries", json={**VALID, "email": "someone@example.com"})

    response = client.get("/api/v1/auth/me/export", headers=headers)

    assert response.status_code == 200
    data = response.get_json()
    assert data["account"]["username"] == "ayu"
    assert data["account"]["bio"] == "Rice terraces"
    assert "password_hash" not in response.get_data(as_text=True)
    assert "argon2" not in response.get_data(as_text=True)
    assert [post["title"] for post in data["posts"]] == [POST["title"]]
    assert [review["content"] for review in data["reviews"]] == [REVIEW["content"]]
    assert len(data["itineraries"]) == 1
    assert data["itineraries"][0]["days"]
    assert sorted(inquiry["email"] for inquiry in data["inquiries"]) == [
        "ayu@example.com",
        "typo@example.com",
    ]
    assert "analysis" not in data["inquiries"][0]
    assert data["truncated"] == []
    assert client.get("/api/v1/auth/me/export").status_code == 401


def test_an_unverified_address_does_not_claim_inquiries(app, client):
    user_id = create_user(app, username="squat", email="ayu@example.com", verified=False)
    client.post("/api/v1/inquiries", json=VALID)

    data = client.get("/api/v1/auth/me/export", headers=token_for(app, user_id)).get_json()

    assert data["inquiries"] == []
