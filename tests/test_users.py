"""Public profiles, testimonials, administration, the inquiries back office, and leaks."""

from __future__ import annotations

import json
import uuid

import psycopg

from api.users import service as users_service
from tests.conftest import PASSWORD, create_user, sql, token_for
from tests.test_auth import link_token, wait_for_emails
from tests.test_inquiries import VALID


def test_public_profile_shows_public_fields_only(app, client):
    user_id = create_user(app, username="Komang", email="komang@example.com")
    headers = token_for(app, user_id)
    client.patch(
        "/api/v1/auth/me",
        headers=headers,
        json={
            "bio": "Surf guide",
            "phone_number": "+62 811 000 111",
            "date_of_birth": "1992-02-02",
        },
    )

    response = client.get("/api/v1/users/by-username/KOMANG")

    assert response.status_code == 200
    profile = response.get_json()
    assert profile["username"] == "Komang"
    assert profile["bio"] == "Surf guide"
    for private in ("email", "phone_number", "date_of_birth", "role", "timezone"):
        assert private not in profile
    assert client.get("/api/v1/users/by-username/nobody").status_code == 404


def test_testimonials_are_public_only_once_a_moderator_approves_them(app, client):
    moderator = token_for(app, role="moderator")
    authors = {}
    for name, text in (("ayu", "Unforgettable Nusa Penida day!"), ("budi", None)):
        authors[name] = create_user(app, username=name)
        if text:
            client.patch(
                "/api/v1/auth/me", headers=token_for(app, authors[name]), json={"testimonial": text}
            )
    ayu = token_for(app, authors["ayu"])

    assert client.get("/api/v1/testimonials").get_json()["meta"]["total"] == 0
    mine = client.get("/api/v1/auth/me", headers=ayu).get_json()
    assert (mine["testimonial"], mine["testimonial_status"]) == (
        "Unforgettable Nusa Penida day!",
        "pending",
    )
    assert client.get("/api/v1/users/by-username/ayu").get_json()["testimonial"] is None
    pending = client.get("/api/v1/testimonials?status=pending", headers=moderator).get_json()
    assert [item["id"] for item in pending["items"]] == [str(authors["ayu"])]

    approved = client.patch(
        f"/api/v1/testimonials/{authors['ayu']}", headers=moderator, json={"status": "approved"}
    )

    assert approved.status_code == 200
    assert approved.get_json()["status"] == "approved"
    page = client.get("/api/v1/testimonials").get_json()
    assert page["meta"]["total"] == 1
    [item] = page["items"]
    assert item["testimonial"] == "Unforgettable Nusa Penida day!"
    assert item["author"] == {"username": "ayu", "full_name": None, "avatar_url": None}
    profile = client.get("/api/v1/users/by-username/ayu").get_json()
    assert profile["testimonial"] == "Unforgettable Nusa Penida day!"
    # an edit waits again; the approved text is not shown in its place
    client.patch("/api/v1/auth/me", headers=ayu, json={"testimonial": "Now with a rude word."})
    assert client.get("/api/v1/testimonials").get_json()["meta"]["total"] == 0
    rejected = client.patch(
        f"/api/v1/testimonials/{authors['ayu']}", headers=moderator, json={"status": "rejected"}
    )
    assert rejected.get_json()["status"] == "rejected"
    assert client.get("/api/v1/auth/me", headers=ayu).get_json()["testimonial_status"] == "rejected"
    assert client.get("/api/v1/testimonials").get_json()["meta"]["total"] == 0
    client.patch("/api/v1/auth/me", headers=ayu, json={"testimonial": None})
    assert client.get("/api/v1/auth/me", headers=ayu).get_json()["testimonial_status"] is None


def test_testimonial_moderation_is_for_staff_and_checks_its_input(app, client):
    author = create_user(app, username="ayu")
    client.patch(
        "/api/v1/auth/me", headers=token_for(app, author), json={"testimonial": "Lovely trip."}
    )
    admin = token_for(app, role="admin")
    url = f"/api/v1/testimonials/{author}"

    assert client.patch(url, json={"status": "approved"}).status_code == 401
    assert client.patch(url, headers=token_for(app), json={"status": "approved"}).status_code == 403
    assert (
        client.patch(url, headers=token_for(app, author), json={"status": "approved"}).status_code
        == 403
    )
    assert client.get("/api/v1/testimonials?status=pending").status_code == 403
    assert (
        client.get("/api/v1/testimonials?status=pending", headers=token_for(app)).status_code == 403
    )
    assert client.get("/api/v1/testimonials?status=bogus", headers=admin).status_code == 422
    for body in ({"status": "pending"}, {"status": "published"}, {}):
        assert client.patch(url, headers=admin, json=body).status_code == 422, body
    no_text = create_user(app, username="quiet")
    assert (
        client.patch(
            f"/api/v1/testimonials/{no_text}", headers=admin, json={"status": "approved"}
        ).status_code
        == 404
    )
    assert (
        client.patch(
            f"/api/v1/testimonials/{uuid.uuid4()}", headers=admin, json={"status": "approved"}
        ).status_code
        == 404
    )
    assert sql(app, "SELECT testimonial_status FROM users WHERE id = :id", id=author) == [
        ("pending",)
    ]
    assert client.patch(url, headers=admin, json={"status": "approved"}).status_code == 200


def test_user_administration_is_for_admins_only(app, client):
    target = create_user(app, username="regular")

    assert client.get("/api/v1/users").status_code == 401
    assert client.get("/api/v1/users", headers=token_for(app)).status_code == 403
    for role in ("user", "moderator"):
        headers = token_for(app, role=role)
        assert (
            client.patch(
                f"/api/v1/users/{target}", headers=headers, json={"role": "admin"}
            ).status_code
            == 403
        )
        assert client.delete(f"/api/v1/users/{target}", headers=headers).status_code == 403
        assert client.get("/api/v1/admin/stats", headers=headers).status_code == 403


def test_admin_lists_and_filters_users(app, client):
    admin = token_for(app, role="admin")
    create_user(app, username="mod1", role="moderator")
    create_user(app, username="newbie", verified=False)

    everyone = client.get("/api/v1/users?per_page=2", headers=admin).get_json()
    moderators = client.get("/api/v1/users?role=moderator", headers=admin).get_json()
    unverified = client.get("/api/v1/users?is_verified=false", headers=admin).get_json()
    search = client.get("/api/v1/users?q=NEWB", headers=admin).get_json()

    assert everyone["meta"]["total"] == 3
    assert len(everyone["items"]) == 2
    assert [u["username"] for u in moderators["items"]] == ["mod1"]
    assert [u["username"] for u in unverified["items"]] == ["newbie"]
    assert [u["username"] for u in search["items"]] == ["newbie"]
    assert client.get("/api/v1/users?role=king", headers=admin).status_code == 422


def test_admin_changes_role_and_deactivation_ends_sessions(app, client):
    admin = token_for(app, role="admin")
    target = create_user(app, username="wayan")
    target_headers = token_for(app, target)

    promoted = client.patch(f"/api/v1/users/{target}", headers=admin, json={"role": "moderator"})
    assert promoted.get_json()["role"] == "moderator"
    assert client.get("/api/v1/auth/me", headers=target_headers).status_code == 200
    deactivated = client.patch(f"/api/v1/users/{target}", headers=admin, json={"is_active": False})

    assert deactivated.status_code == 200
    assert deactivated.get_json()["is_active"] is False
    assert client.get("/api/v1/auth/me", headers=target_headers).status_code == 401
    login = client.post("/api/v1/auth/login", json={"login": "wayan", "password": PASSWORD})
    assert login.status_code == 403
    assert login.get_json()["code"] == "account_disabled"
    assert (
        client.patch(f"/api/v1/users/{target}", headers=admin, json={"role": "emperor"}).status_code
        == 422
    )


def test_admins_cannot_lock_themselves_out(app, client):
    admin_id = create_user(app, username="boss", role="admin")
    headers = token_for(app, admin_id)

    demote = client.patch(f"/api/v1/users/{admin_id}", headers=headers, json={"role": "user"})
    delete = client.delete(f"/api/v1/users/{admin_id}", headers=headers)

    assert demote.status_code == delete.status_code == 409


def test_deleting_a_user_deletes_what_belongs_to_them(app, client):
    admin = token_for(app, role="admin")
    target = create_user(app, username="leaving")
    job = client.post("/api/v1/inquiries", json=VALID, headers=token_for(app, target)).get_json()

    response = client.delete(f"/api/v1/users/{target}", headers=admin)

    assert response.status_code == 204
    assert client.get(f"/api/v1/users/{target}", headers=admin).status_code == 404
    assert sql(app, "SELECT count(*) FROM jobs WHERE id = :id", id=job["id"]) == [(0,)]
    assert sql(app, "SELECT count(*) FROM inquiries") == [(1,)]  # the agency keeps inquiries
    assert client.delete(f"/api/v1/users/{uuid.uuid4()}", headers=admin).status_code == 404


def test_admin_stats(app, client):
    admin = token_for(app, role="admin")
    create_user(app, username="unverified", verified=False)
    client.post("/api/v1/inquiries", json=VALID)

    stats = client.get("/api/v1/admin/stats", headers=admin).get_json()

    assert stats["users"] == {
        "total": 2,
        "by_role": {"admin": 1, "user": 1},
        "verified": 1,
        "unverified": 1,
    }
    assert stats["jobs"] == {"email": {"queued": 1}}
    assert stats["content"] == {"inquiries": {"new": 1}, "posts": {}, "reviews": {}}


def test_inquiries_back_office(app, client):
    admin = token_for(app, role="admin")
    first = client.post("/api/v1/inquiries", json=VALID).get_json()
    client.post("/api/v1/inquiries", json={**VALID, "name": "Second"})
    inquiry_id = sql(app, "SELECT id FROM inquiries WHERE job_id = :id", id=first["id"])[0][0]

    listing = client.get("/api/v1/inquiries", headers=admin).get_json()
    answered = client.patch(
        f"/api/v1/inquiries/{inquiry_id}", headers=admin, json={"status": "answered"}
    )
    filtered = client.get("/api/v1/inquiries?status=answered", headers=admin).get_json()

    assert listing["meta"]["total"] == 2
    assert listing["items"][0]["name"] == "Second"  # newest first
    assert answered.status_code == 200
    assert answered.get_json()["status"] == "answered"
    assert [item["id"] for item in filtered["items"]] == [str(inquiry_id)]
    assert (
        client.patch(
            f"/api/v1/inquiries/{inquiry_id}", headers=admin, json={"status": "lost"}
        ).status_code
        == 422
    )
    assert client.get("/api/v1/inquiries", headers=token_for(app)).status_code == 403
    assert client.get("/api/v1/inquiries").status_code == 401


def test_no_response_leaks_a_password_hash_or_someone_elses_secret(app, client):
    admin_id = create_user(app, username="chief", role="admin")
    admin = token_for(app, admin_id)
    victim = create_user(app, username="victim")
    victim_secret = client.get("/api/v1/webhooks/secret", headers=token_for(app, victim)).get_json()
    me = token_for(app)
    responses = [
        client.get("/api/v1/auth/me", headers=me),
        client.patch("/api/v1/auth/me", headers=me, json={"bio": "hi"}),
        client.get("/api/v1/users/by-username/victim"),
        client.get("/api/v1/users", headers=admin),
        client.get(f"/api/v1/users/{victim}", headers=admin),
        client.patch(f"/api/v1/users/{victim}", headers=admin, json={"is_verified": True}),
        client.get("/api/v1/testimonials"),
        client.get("/api/v1/admin/stats", headers=admin),
        client.get("/api/v1/webhooks/secret", headers=me),
        client.post(
            "/api/v1/auth/register",
            json={
                "email": "fresh@example.com",
                "username": "fresh",
                "password": "Bukit-Peninsula-9",
            },
        ),
        client.get("/openapi.json"),
    ]

    hashes = [row[0] for row in sql(app, "SELECT password_hash FROM users") if row[0]]
    for response in responses:
        text = response.get_data(as_text=True)
        assert "$argon2" not in text
        assert all(password_hash not in text for password_hash in hashes)
        assert victim_secret["secret"] not in text
        assert "password_hash" not in text
        assert "webhook_secret" not in text
    assert json.loads(responses[-3].get_data())["secret"] != victim_secret["secret"]


NEW_MEMBER = {"email": "Ketut@Example.com", "username": "ketut", "full_name": "Ketut Sari"}


def test_admin_creates_a_user_who_verifies_and_signs_in(app, client, worker, tmp_path):
    admin = token_for(app, role="admin")

    created = client.post(
        "/api/v1/users", headers=admin, json={**NEW_MEMBER, "password": "Kelingking-Beach-42"}
    )

    assert created.status_code == 201, created.get_json()
    user = created.get_json()
    assert user["email"] == "ketut@example.com"
    assert user["role"] == "user"
    assert user["is_verified"] is False
    assert "password" not in json.dumps(user)
    [email] = wait_for_emails(tmp_path / "outbox", "ketut@example.com", 1)
    assert (
        client.post("/api/v1/auth/verify-email", json={"token": link_token(email)}).status_code
        == 204
    )
    login = client.post(
        "/api/v1/auth/login", json={"login": "ketut", "password": "Kelingking-Beach-42"}
    )
    assert login.status_code == 200
    moderator = client.post(
        "/api/v1/users",
        headers=admin,
        json={
            "email": "mod@example.com",
            "username": "mod",
            "role": "moderator",
            "is_verified": True,
        },
    ).get_json()
    assert (moderator["role"], moderator["is_verified"]) == ("moderator", True)


def test_admin_creation_refuses_duplicates_bad_fields_and_non_admins(app, client):
    admin = token_for(app, role="admin")
    assert client.post("/api/v1/users", headers=admin, json=NEW_MEMBER).status_code == 201

    same_email = client.post(
        "/api/v1/users", headers=admin, json={**NEW_MEMBER, "username": "other"}
    )
    same_name = client.post(
        "/api/v1/users",
        headers=admin,
        json={**NEW_MEMBER, "email": "x@example.com", "username": "KETUT"},
    )
    assert same_email.status_code == same_name.status_code == 409
    assert same_email.get_json()["code"] == "email_taken"
    assert same_name.get_json()["code"] == "username_taken"
    for bad in (
        {"email": "not-an-email"},
        {"username": "a"},
        {"role": "emperor"},
        {"password": "password"},
        {"full_name": "x" * 101},
    ):
        fields = {**NEW_MEMBER, "email": "new@example.com", "username": "newone", **bad}
        answer = client.post("/api/v1/users", headers=admin, json=fields)
        assert answer.status_code == 422, bad
    assert client.post("/api/v1/users", json=NEW_MEMBER).status_code == 401
    for role in ("user", "moderator"):
        refused = client.post("/api/v1/users", headers=token_for(app, role=role), json=NEW_MEMBER)
        assert refused.status_code == 403
    assert sql(app, "SELECT count(*) FROM users WHERE email = 'new@example.com'") == [(0,)]


def test_admin_corrects_email_username_and_name(app, client, worker, tmp_path):
    admin = token_for(app, role="admin")
    target = create_user(app, username="wayan", email="wayan@exmaple.com")
    create_user(app, username="taken", email="taken@example.com")
    target_headers = token_for(app, target)

    corrected = client.patch(
        f"/api/v1/users/{target}",
        headers=admin,
        json={"email": "Wayan@Example.com", "username": "wayan_b", "full_name": "Wayan Bagus"},
    )

    assert corrected.status_code == 200, corrected.get_json()
    user = corrected.get_json()
    assert (user["email"], user["username"], user["full_name"]) == (
        "wayan@example.com",
        "wayan_b",
        "Wayan Bagus",
    )
    assert user["is_verified"] is False  # nobody has proved the new address yet
    assert wait_for_emails(tmp_path / "outbox", "wayan@example.com", 1)
    assert client.get("/api/v1/auth/me", headers=target_headers).status_code == 200  # session kept
    login = client.post(
        "/api/v1/auth/login", json={"login": "wayan@example.com", "password": PASSWORD}
    )
    assert login.status_code == 200
    vouched = client.patch(
        f"/api/v1/users/{target}",
        headers=admin,
        json={"email": "wayan.b@example.com", "is_verified": True},
    )
    assert vouched.get_json()["is_verified"] is True
    for clash, code in (
        ({"email": "TAKEN@example.com"}, "email_taken"),
        ({"username": "Taken"}, "username_taken"),
    ):
        refused = client.patch(f"/api/v1/users/{target}", headers=admin, json=clash)
        assert refused.status_code == 409
        assert refused.get_json()["code"] == code
    assert (
        client.patch(f"/api/v1/users/{target}", headers=admin, json={"email": "nope"}).status_code
        == 422
    )
    assert (
        client.patch(
            f"/api/v1/users/{target}", headers=token_for(app), json={"username": "hijack"}
        ).status_code
        == 403
    )
    assert sql(app, "SELECT username, email FROM users WHERE id = :id", id=target) == [
        ("wayan_b", "wayan.b@example.com")
    ]


def test_an_edit_made_while_a_moderator_decides_is_not_approved_unseen(
    app, client, monkeypatch, postgres_url
):
    author = create_user(app, username="ayu")
    ayu = token_for(app, author)
    client.patch("/api/v1/auth/me", headers=ayu, json={"testimonial": "Lovely trip."})
    moderator = token_for(app, role="moderator")
    read_for_moderation = users_service.get

    def read_then_author_edits(user_id):
        user = read_for_moderation(user_id)  # the moderator's request has read the text...
        with psycopg.connect(postgres_url, autocommit=True) as other:  # another session
            other.execute(
                "UPDATE users SET testimonial = 'Now spam.', testimonial_status = 'pending'"
            )
        return user  # ...and the author's edit commits before the decision is written

    monkeypatch.setattr(users_service, "get", read_then_author_edits)
    decision = client.patch(
        f"/api/v1/testimonials/{author}", headers=moderator, json={"status": "approved"}
    )

    assert decision.status_code == 409
    assert decision.get_json()["code"] == "changed"
    assert sql(
        app, "SELECT testimonial, testimonial_status FROM users WHERE id = :id", id=author
    ) == [("Now spam.", "pending")]
    assert client.get("/api/v1/testimonials").get_json()["meta"]["total"] == 0
