"""Registration, sign-in, lockout, sessions, tokens, email verification and passwords."""

from __future__ import annotations

import base64
import email
import email.policy
import json
import re
import time
from datetime import timedelta
from pathlib import Path

import pytest
from flask_jwt_extended import create_access_token, create_refresh_token

from tests.conftest import PASSWORD, create_user, free_port, sql, token_for

NEW_USER = {
    "email": "Made.Wirawan@Example.com",
    "username": "MadeW",
    "password": "Terraces-of-Jatiluwih-7",
    "full_name": "Made Wirawan",
}


def register(client, headers=None, **changes):
    return client.post("/api/v1/auth/register", json={**NEW_USER, **changes}, headers=headers)


def login(client, login_name="madew", password=NEW_USER["password"]):
    return client.post("/api/v1/auth/login", json={"login": login_name, "password": password})


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def emails_to(outbox: Path, address: str) -> list[str]:
    """The subject and plain-text body of each email in the outbox sent to `address`."""
    found = []
    for path in sorted(outbox.glob("*.eml"), key=lambda p: p.stat().st_mtime):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if message["To"] == address:
            found.append(f"{message['Subject']}\n{message.get_body(('plain',)).get_content()}")
    return found


def link_token(email_text: str) -> str:
    match = re.search(r"token=([A-Za-z0-9_.\-]+)", email_text)
    assert match, email_text
    return match.group(1)


def wait_for_emails(outbox: Path, address: str, count: int) -> list[str]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        found = emails_to(outbox, address)
        if len(found) >= count:
            return found
        time.sleep(0.2)
    raise AssertionError(f"expected {count} emails to {address}, got {emails_to(outbox, address)}")


# --- registration ----------------------------------------------------------------------------


def test_register_creates_an_unverified_user_and_sends_a_verification_link(
    client, worker, tmp_path
):
    response = register(client, headers={"X-Client-Timezone": "Asia/Makassar"})

    assert response.status_code == 201
    user = response.get_json()
    assert user["email"] == "made.wirawan@example.com"
    assert user["username"] == "MadeW"
    assert user["role"] == "user"
    assert user["is_verified"] is False
    assert user["auth_provider"] == "email"
    assert user["timezone"] == "Asia/Makassar"
    assert "password" not in json.dumps(user)
    [email] = wait_for_emails(tmp_path / "outbox", "made.wirawan@example.com", 1)
    assert "Verify your BaliBlissed account" in email
    token = link_token(email)

    assert client.post("/api/v1/auth/verify-email", json={"token": token}).status_code == 204
    again = client.post("/api/v1/auth/verify-email", json={"token": token})
    assert again.status_code == 400
    assert again.get_json()["code"] == "token_used"
    access = login(client).get_json()["access_token"]
    assert client.get("/api/v1/auth/me", headers=bearer(access)).get_json()["is_verified"]


def test_register_ignores_an_invalid_timezone_header(client):
    response = register(client, headers={"X-Client-Timezone": "Mars/Olympus"})

    assert response.get_json()["timezone"] is None


def test_duplicate_email_or_username_is_409_whatever_the_case(client):
    assert register(client).status_code == 201

    email = register(client, username="someone-else", email="MADE.WIRAWAN@example.com")
    username = register(client, username="madew", email="other@example.com")

    assert email.status_code == 409
    assert email.get_json()["code"] == "email_taken"
    assert username.status_code == 409
    assert username.get_json()["code"] == "username_taken"


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short1!", "at least 8"),
        ("password123", "too common"),
        ("madew-in-bali-2026", "username"),
        ("made.wirawan-rocks", "email"),
        ("x" * 129, "at most 128"),
    ],
)
def test_weak_passwords_are_422(client, password, reason):
    response = register(client, password=password)

    assert response.status_code == 422
    assert reason in " ".join(response.get_json()["errors"]["password"])
    assert sql(client.application, "SELECT count(*) FROM users")[0][0] == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"email": "nope"}, "email"),
        ({"username": "a b"}, "username"),
        ({"username": "x"}, "username"),
    ],
)
def test_invalid_registration_fields_are_422(client, change, field):
    response = register(client, **change)

    assert response.status_code == 422
    assert field in response.get_json()["errors"]


# --- sign-in and lockout ---------------------------------------------------------------------


def test_login_with_email_or_username_in_any_case(client):
    register(client)

    for name in ("madew", "MADEW", "Made.Wirawan@example.com"):
        response = login(client, name)
        assert response.status_code == 200, name
        pair = response.get_json()
        assert pair["token_type"] == "bearer"
        assert pair["expires_in"] == 30 * 60
        assert pair["access_token"]
        assert pair["refresh_token"]


def test_wrong_password_and_unknown_user_get_the_same_answer(client):
    register(client)

    wrong = login(client, "madew", "Not-The-Password-1")
    unknown = login(client, "nobody@example.com", "Not-The-Password-1")

    assert wrong.status_code == unknown.status_code == 401
    strip = lambda body: {k: v for k, v in body.items() if k != "request_id"}  # noqa: E731
    assert strip(wrong.get_json()) == strip(unknown.get_json())


def test_five_failures_lock_the_account_even_for_the_right_password(client):
    register(client)

    failures = [login(client, "madew", "Wrong-password-99").status_code for _ in range(5)]
    locked = login(client)
    by_email = login(client, "made.wirawan@example.com")

    assert failures == [401] * 5
    assert locked.status_code == 423
    assert locked.get_json()["code"] == "account_locked"
    assert 0 < int(locked.headers["Retry-After"]) <= 15 * 60
    assert by_email.status_code == 423  # the account is locked, not the spelling


def test_unknown_accounts_lock_the_same_way(client):
    answers = [login(client, "ghost", "Wrong-password-99").status_code for _ in range(6)]

    assert answers == [401] * 5 + [423]


def test_a_success_resets_the_failure_count(client):
    register(client)
    for _ in range(4):
        login(client, "madew", "Wrong-password-99")
    assert login(client).status_code == 200

    answers = [login(client, "madew", "Wrong-password-99").status_code for _ in range(4)]

    assert answers == [401] * 4


def test_login_rehashes_a_password_stored_at_another_level(make_app):
    cheap = make_app()
    user_id = create_user(cheap, username="rehash-me")  # hashed at the development level
    app = make_app(PASSWORD_SECURITY_LEVEL="standard")

    response = app.test_client().post(
        "/api/v1/auth/login", json={"login": "rehash-me", "password": PASSWORD}
    )

    assert response.status_code == 200
    stored = sql(app, "SELECT password_hash FROM users WHERE id = :id", id=user_id)[0][0]
    assert stored.startswith("$argon2id$")
    assert "m=65536,t=3,p=4" in stored


# --- sessions --------------------------------------------------------------------------------


def test_refresh_rotates_and_a_reused_refresh_token_ends_the_whole_family(client):
    register(client)
    first = login(client).get_json()

    second = client.post("/api/v1/auth/refresh", headers=bearer(first["refresh_token"]))
    assert second.status_code == 200
    pair = second.get_json()
    assert client.get("/api/v1/auth/me", headers=bearer(pair["access_token"])).status_code == 200

    reuse = client.post("/api/v1/auth/refresh", headers=bearer(first["refresh_token"]))
    assert reuse.status_code == 401
    assert reuse.get_json()["code"] == "token_reused"
    # Everything in that family is now dead, including the pair the thief may hold.
    assert (
        client.post("/api/v1/auth/refresh", headers=bearer(pair["refresh_token"])).status_code
        == 401
    )
    assert client.get("/api/v1/auth/me", headers=bearer(pair["access_token"])).status_code == 401
    # Another session of the same user is untouched.
    other = login(client).get_json()
    assert client.get("/api/v1/auth/me", headers=bearer(other["access_token"])).status_code == 200


def test_logout_revokes_both_tokens(client):
    register(client)
    pair = login(client).get_json()

    response = client.post(
        "/api/v1/auth/logout",
        json={"refresh_token": pair["refresh_token"]},
        headers=bearer(pair["access_token"]),
    )

    assert response.status_code == 204
    assert client.get("/api/v1/auth/me", headers=bearer(pair["access_token"])).status_code == 401
    assert (
        client.post("/api/v1/auth/refresh", headers=bearer(pair["refresh_token"])).status_code
        == 401
    )


def test_logout_without_a_body_works_too(client):
    register(client)
    pair = login(client).get_json()

    assert (
        client.post("/api/v1/auth/logout", headers=bearer(pair["access_token"])).status_code == 204
    )
    assert client.get("/api/v1/auth/me", headers=bearer(pair["access_token"])).status_code == 401


def test_bad_tokens_are_401_problems_never_500(app, client):
    user_id = create_user(app)
    with app.app_context():
        expired = create_access_token(
            str(user_id), expires_delta=timedelta(seconds=-5), additional_claims={"fam": "f"}
        )
        refresh = create_refresh_token(str(user_id), additional_claims={"fam": "f"})
        access = create_access_token(str(user_id), additional_claims={"fam": "f"})
        foreign = create_access_token("not-a-uuid", additional_claims={"fam": "f"})
    header, payload, _ = access.split(".")
    none_header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    tampered_payload = payload[:-4] + ("AAAA" if payload[-4:] != "AAAA" else "BBBB")
    candidates = {
        "expired": expired,
        "refresh used as access": refresh,
        "alg none": f"{none_header}.{payload}.",
        "tampered": f"{header}.{tampered_payload}.{access.split('.')[2]}",
        "garbage": "not.a.token",
        "non-uuid subject": foreign,
    }

    for name, token in candidates.items():
        response = client.get("/api/v1/auth/me", headers=bearer(token))
        assert response.status_code == 401, name
        assert response.content_type == "application/problem+json", name
    access_as_refresh = client.post("/api/v1/auth/refresh", headers=bearer(access))
    assert access_as_refresh.status_code == 401
    assert client.get("/api/v1/auth/me", headers={"Authorization": "Basic abc"}).status_code == 401


def test_revocation_store_down_is_503_not_500(make_app):
    app = make_app()
    header = token_for(app)
    down = make_app(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")

    response = down.test_client().get("/api/v1/auth/me", headers=header)

    assert response.status_code == 503
    assert response.get_json()["code"] == "service_unavailable"


def test_rate_limits_fall_back_to_memory_when_redis_is_down(make_app):
    app = make_app(
        REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
        RATELIMIT_ENABLED="true",
        RATELIMIT_INQUIRY="2 per hour",
    )
    from tests.test_inquiries import VALID

    answers = [
        app.test_client().post("/api/v1/inquiries", json=VALID).status_code for _ in range(3)
    ]

    assert answers == [202, 202, 429]


def test_login_and_register_are_rate_limited_more_strictly(make_app):
    client = make_app(
        RATELIMIT_ENABLED="true", RATELIMIT_LOGIN="3 per minute", RATELIMIT_REGISTER="1 per hour"
    ).test_client()

    logins = [login(client, "x", "y").status_code for _ in range(4)]
    registrations = [
        register(client, username=f"user{n}", email=f"u{n}@example.com").status_code
        for n in range(2)
    ]

    assert logins == [401, 401, 401, 429]
    assert registrations == [201, 429]


# --- profile ---------------------------------------------------------------------------------


def test_profile_update_and_validation(client):
    register(client)
    headers = bearer(login(client).get_json()["access_token"])

    response = client.patch(
        "/api/v1/auth/me",
        headers=headers,
        json={
            "full_name": "Made W.",
            "bio": "Guide in Ubud for 12 years.",
            "website": "https://made.example.com",
            "country": "Indonesia",
            "phone_number": "+62 812 555 0101",
            "date_of_birth": "1990-04-01",
            "timezone": "Asia/Makassar",
            "testimonial": "The best rice terrace walk of my life.",
        },
    )

    assert response.status_code == 200
    me = response.get_json()
    assert me["bio"] == "Guide in Ubud for 12 years."
    assert me["date_of_birth"] == "1990-04-01"
    bad = client.patch(
        "/api/v1/auth/me",
        headers=headers,
        json={
            "bio": "x" * 161,
            "timezone": "Bali/Ubud",
            "website": "javascript:alert(1)",
            "testimonial": "y" * 501,
            "date_of_birth": "2024-01-01",
        },
    )
    assert bad.status_code == 422
    assert set(bad.get_json()["errors"]) == {
        "bio",
        "timezone",
        "website",
        "testimonial",
        "date_of_birth",
    }


KETUT = "ketut@example.com"
KETUT_NEW = "ketut@bali.example"


def account_row(app, user_id):
    return sql(
        app,
        "SELECT email, pending_email, is_verified FROM users WHERE id = :id",
        id=user_id,
    )[0]


def ask_for_new_email(client, headers, password=PASSWORD, **fields):
    body = {"email": "Ketut@Bali.example", "current_password": password, **fields}
    return client.patch("/api/v1/auth/me", headers=headers, json=body)


def test_stolen_token_email_change_needs_the_current_password(app, client):
    """A bearer token alone (stolen, 30 minutes) must not move the account to another address:
    that plus a password reset sent there would be a permanent takeover."""
    user_id = create_user(app, username="ketut", email=KETUT, verified=True)
    create_user(app, username="taken", email="taken@example.com")
    headers = token_for(app, user_id)

    attempts = [
        {"email": "thief@evil.example"},
        {"email": "thief@evil.example", "current_password": "Wrong-guess-2026"},
        {"email": "thief@evil.example", "current_password": ""},
        {"email": "thief@evil.example", "bio": "Owned."},
        {"email": "taken@example.com"},  # 422, not 409: a token alone learns nothing
    ]

    for body in attempts:
        response = client.patch("/api/v1/auth/me", headers=headers, json=body)
        assert response.status_code == 422, body
        assert response.content_type == "application/problem+json"
        assert "current_password" in response.get_json()["errors"], body
    assert account_row(app, user_id) == (KETUT, None, True)
    assert sql(app, "SELECT bio FROM users WHERE id = :id", id=user_id) == [(None,)]
    assert sql(app, "SELECT count(*) FROM jobs") == [(0,)]  # no email was queued
    # Other fields, and the unchanged address a form sends back, need no password.
    same = client.patch(
        "/api/v1/auth/me", headers=headers, json={"email": "KETUT@example.com", "bio": "Hi"}
    )
    assert same.status_code == 200
    assert same.get_json()["bio"] == "Hi"
    assert account_row(app, user_id) == (KETUT, None, True)


def test_stolen_token_email_change_stays_pending_until_the_new_address_confirms(
    app, client, worker, tmp_path
):
    outbox = tmp_path / "outbox"
    user_id = create_user(app, username="ketut", email=KETUT, verified=True)
    headers = token_for(app, user_id)

    response = ask_for_new_email(client, headers, full_name="Ketut Bali")

    assert response.status_code == 200
    me = response.get_json()
    assert (me["email"], me["pending_email"], me["is_verified"]) == (KETUT, KETUT_NEW, True)
    assert me["full_name"] == "Ketut Bali"
    assert "current_password" not in me
    assert account_row(app, user_id) == (KETUT, KETUT_NEW, True)
    [confirmation] = wait_for_emails(outbox, KETUT_NEW, 1)
    assert "Confirm your new BaliBlissed email address" in confirmation
    [notice] = wait_for_emails(outbox, KETUT, 1)
    assert "being changed" in notice
    assert "k***@bali.example" in notice
    assert KETUT_NEW not in notice  # the old mailbox is told, not handed the new address
    assert "token=" not in notice
    # Meanwhile the current address is the sign-in and gets the password resets; the new one
    # gets nothing.
    assert login(client, KETUT_NEW, PASSWORD).status_code == 401
    assert login(client, KETUT, PASSWORD).status_code == 200
    for address in (KETUT_NEW, KETUT):
        forgot = client.post("/api/v1/auth/password/forgot", json={"email": address})
        assert forgot.status_code == 202
    assert any("reset-password" in text for text in wait_for_emails(outbox, KETUT, 2))
    assert sql(app, "SELECT count(*) FROM jobs WHERE payload->>'template' = 'password_reset'") == [
        (1,)
    ]
    assert len(emails_to(outbox, KETUT_NEW)) == 1

    confirmed = client.post("/api/v1/auth/verify-email", json={"token": link_token(confirmation)})

    assert confirmed.status_code == 204
    assert account_row(app, user_id) == (KETUT_NEW, None, True)
    me = client.get("/api/v1/auth/me", headers=headers).get_json()
    assert (me["email"], me["pending_email"]) == (KETUT_NEW, None)
    assert login(client, KETUT_NEW, PASSWORD).status_code == 200
    assert login(client, KETUT, PASSWORD).status_code == 401
    again = client.post("/api/v1/auth/verify-email", json={"token": link_token(confirmation)})
    assert again.status_code == 400


def test_an_unverified_account_changing_its_email_is_verified_by_the_new_link(
    app, client, worker, tmp_path
):
    user_id = create_user(app, username="ketut", email="ketut@typo.example", verified=False)
    headers = token_for(app, user_id)

    assert ask_for_new_email(client, headers).status_code == 200

    [confirmation] = wait_for_emails(tmp_path / "outbox", KETUT_NEW, 1)
    token = link_token(confirmation)
    assert client.post("/api/v1/auth/verify-email", json={"token": token}).status_code == 204
    assert account_row(app, user_id) == (KETUT_NEW, None, True)


def test_an_account_without_a_password_is_told_to_set_one_before_changing_its_email(app, client):
    user_id = create_user(app, username="ketut", email=KETUT, verified=True)
    sql(app, "UPDATE users SET password_hash = NULL WHERE id = :id", id=user_id)  # OAuth-only
    headers = token_for(app, user_id)

    response = client.patch(
        "/api/v1/auth/me", headers=headers, json={"email": KETUT_NEW, "current_password": "x"}
    )

    assert response.status_code == 422
    [message] = response.get_json()["errors"]["current_password"]
    assert "no password" in message
    assert "password reset" in message
    assert account_row(app, user_id) == (KETUT, None, True)


def test_email_change_to_a_taken_address_is_409(app, client):
    create_user(app, username="taken", email="taken@example.com")
    headers = token_for(app)

    response = client.patch(
        "/api/v1/auth/me",
        headers=headers,
        json={"email": "TAKEN@example.com", "current_password": PASSWORD},
    )

    assert response.status_code == 409
    assert response.get_json()["code"] == "email_taken"


def test_an_address_taken_before_its_link_is_followed_is_409(app, client, worker, tmp_path):
    user_id = create_user(app, username="ketut", email=KETUT, verified=True)
    headers = token_for(app, user_id)
    assert ask_for_new_email(client, headers).status_code == 200
    [confirmation] = wait_for_emails(tmp_path / "outbox", KETUT_NEW, 1)
    assert register(client, email=KETUT_NEW, username="quicker").status_code == 201

    response = client.post("/api/v1/auth/verify-email", json={"token": link_token(confirmation)})

    assert response.status_code == 409
    assert response.get_json()["code"] == "email_taken"
    assert account_row(app, user_id) == (KETUT, KETUT_NEW, True)


def test_stolen_token_email_change_is_cancelled_by_a_password_change(app, client, worker, tmp_path):
    """The owner, told by the notice, changes the password: the thief's pending address (and
    its link) must not survive, or following it would still hand the account over."""
    user_id = create_user(app, username="ketut", email=KETUT, verified=True)
    thief = token_for(app, user_id)
    assert ask_for_new_email(client, thief).status_code == 200
    [confirmation] = wait_for_emails(tmp_path / "outbox", KETUT_NEW, 1)
    owner = bearer(login(client, KETUT, PASSWORD).get_json()["access_token"])

    changed = client.post(
        "/api/v1/auth/password/change",
        headers=owner,
        json={"current_password": PASSWORD, "new_password": "Kelingking-Beach-42"},
    )

    assert changed.status_code == 204
    assert account_row(app, user_id) == (KETUT, None, True)
    response = client.post("/api/v1/auth/verify-email", json={"token": link_token(confirmation)})
    assert response.status_code == 400
    assert response.get_json()["code"] == "invalid_token"
    assert account_row(app, user_id) == (KETUT, None, True)


def test_resend_verification_is_limited_to_three_per_day(client, worker, tmp_path):
    register(client)  # the first email counts

    answers = [
        client.post(
            "/api/v1/auth/verify-email/resend", json={"email": NEW_USER["email"]}
        ).status_code
        for _ in range(4)
    ]
    unknown = client.post("/api/v1/auth/verify-email/resend", json={"email": "who@example.com"})

    assert answers == [202] * 4
    assert unknown.status_code == 202
    time.sleep(2)
    assert len(wait_for_emails(tmp_path / "outbox", "made.wirawan@example.com", 3)) == 3


# --- passwords -------------------------------------------------------------------------------


def test_change_password_ends_every_session_and_notifies(client, worker, tmp_path):
    register(client)
    pair = login(client).get_json()
    headers = bearer(pair["access_token"])

    wrong = client.post(
        "/api/v1/auth/password/change",
        headers=headers,
        json={"current_password": "nope-nope-nope", "new_password": "Kelingking-Beach-42"},
    )
    ok = client.post(
        "/api/v1/auth/password/change",
        headers=headers,
        json={"current_password": NEW_USER["password"], "new_password": "Kelingking-Beach-42"},
    )

    assert wrong.status_code == 422
    assert "current_password" in wrong.get_json()["errors"]
    assert ok.status_code == 204
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 401
    assert (
        client.post("/api/v1/auth/refresh", headers=bearer(pair["refresh_token"])).status_code
        == 401
    )
    assert login(client).status_code == 401
    assert login(client, password="Kelingking-Beach-42").status_code == 200
    notices = wait_for_emails(tmp_path / "outbox", "made.wirawan@example.com", 2)
    assert any("password was changed" in text for text in notices)


def test_forgot_and_reset_password(client, worker, tmp_path):
    register(client)
    old = login(client).get_json()

    unknown = client.post("/api/v1/auth/password/forgot", json={"email": "nobody@example.com"})
    known = client.post("/api/v1/auth/password/forgot", json={"email": "MADE.wirawan@example.com"})

    assert unknown.status_code == known.status_code == 202
    assert unknown.get_json() == known.get_json()
    emails = wait_for_emails(tmp_path / "outbox", "made.wirawan@example.com", 2)
    token = link_token(next(text for text in emails if "reset-password" in text))
    weak = client.post("/api/v1/auth/password/reset", json={"token": token, "new_password": "123"})
    assert weak.status_code == 422  # and the link still works afterwards
    reset = client.post(
        "/api/v1/auth/password/reset", json={"token": token, "new_password": "Tirta-Empul-Spring-8"}
    )
    assert reset.status_code == 204
    again = client.post(
        "/api/v1/auth/password/reset", json={"token": token, "new_password": "Another-Good-One-9"}
    )
    assert again.status_code == 400
    assert client.get("/api/v1/auth/me", headers=bearer(old["access_token"])).status_code == 401
    assert login(client, password="Tirta-Empul-Spring-8").status_code == 200
    forged = client.post(
        "/api/v1/auth/password/reset", json={"token": token + "x", "new_password": "Whatever-123-x"}
    )
    assert forged.status_code == 400
    assert forged.get_json()["code"] == "invalid_token"


def test_reset_requests_are_capped_per_hour(client, app):
    register(client)

    for _ in range(5):
        client.post("/api/v1/auth/password/forgot", json={"email": NEW_USER["email"]})

    rows = sql(app, "SELECT payload->>'template' FROM jobs")
    assert sorted(row[0] for row in rows) == ["password_reset"] * 3 + ["verify_email"]


def test_create_admin_command(app):
    runner = app.test_cli_runner()

    result = runner.invoke(
        args=[
            "users",
            "create-admin",
            "--email",
            "Boss@BaliBlissed.com",
            "--username",
            "boss",
            "--password",
            "Sekumpul-Falls-2026",
        ]
    )
    weak = runner.invoke(
        args=[
            "users",
            "create-admin",
            "--email",
            "b2@example.com",
            "--username",
            "boss2",
            "--password",
            "password",
        ]
    )

    assert result.exit_code == 0, result.output
    assert sql(app, "SELECT role, is_verified, email FROM users WHERE username = 'boss'") == [
        ("admin", True, "boss@baliblissed.com")
    ]
    assert weak.exit_code != 0
    assert "too common" in weak.output
