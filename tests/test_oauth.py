"""Google (OpenID Connect) and WeChat sign-in against a local fake provider."""

from __future__ import annotations

import logging
from urllib.parse import parse_qs, urlsplit

import pytest
import redis
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.conftest import PASSWORD, create_user, sql
from tests.support.fake_oauth import CLIENT_ID, FakeOAuthProvider
from tests.test_auth import link_token, wait_for_emails


@pytest.fixture
def provider():
    with FakeOAuthProvider() as fake:
        yield fake


@pytest.fixture
def oauth_app(make_app, provider):
    return make_app(**provider.settings(), FRONTEND_URL="https://www.baliblissed.test")


@pytest.fixture
def oauth_client(oauth_app):
    """A client that asks the callback for JSON (the token pair in the answer)."""
    client = oauth_app.test_client()
    client.environ_base["HTTP_ACCEPT"] = "application/json"
    return client


@pytest.fixture
def browser(oauth_app):
    """A client that navigates like a browser (HTML first): the callback redirects."""
    client = oauth_app.test_client()
    client.environ_base["HTTP_ACCEPT"] = BROWSER_ACCEPT
    return client


BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def start(client, name="google"):
    response = client.get(f"/api/v1/auth/oauth/{name}/login")
    assert response.status_code == 302
    return response.headers["Location"]


def query_of(url):
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def test_google_sign_in_creates_a_verified_account_then_finds_it_again(oauth_client, provider):
    location = start(oauth_client)
    query = query_of(location)
    assert location.startswith(f"{provider.url}/o/oauth2/v2/auth?")
    assert query["client_id"] == CLIENT_ID
    assert query["scope"] == "openid email profile"
    assert query["code_challenge_method"] == "S256"
    assert query["redirect_uri"].endswith("/api/v1/auth/oauth/google/callback")
    code = provider.authorize_google(location, sub="g-123", email="Wayan@Gmail.test")

    response = oauth_client.get(
        f"/api/v1/auth/oauth/google/callback?code={code}&state={query['state']}"
    )

    assert response.status_code == 200, response.get_json()
    tokens = response.get_json()
    me = oauth_client.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    ).get_json()
    assert me["email"] == "wayan@gmail.test"
    assert me["is_verified"] is True
    assert me["auth_provider"] == "google"
    assert me["full_name"] == "Wayan Test"
    assert me["avatar_url"] == "https://lh3.googleusercontent.test/a/photo.jpg"
    again_location = start(oauth_client)
    again = oauth_client.get(
        "/api/v1/auth/oauth/google/callback?code="
        f"{provider.authorize_google(again_location, sub='g-123', email='wayan@gmail.test')}"
        f"&state={query_of(again_location)['state']}"
    )
    assert again.status_code == 200
    assert sql(oauth_client.application, "SELECT count(*) FROM users")[0][0] == 1


def test_google_links_an_existing_account_by_verified_email(oauth_client, provider):
    user_id = create_user(
        oauth_client.application, username="nyoman", email="nyoman@example.com", verified=False
    )
    location = start(oauth_client)
    code = provider.authorize_google(location, sub="g-9", email="nyoman@example.com")

    response = oauth_client.get(
        f"/api/v1/auth/oauth/google/callback?code={code}&state={query_of(location)['state']}"
    )

    assert response.status_code == 200
    rows = sql(
        oauth_client.application,
        "SELECT u.id, u.is_verified, i.provider, i.subject FROM users u "
        "JOIN oauth_identities i ON i.user_id = u.id",
    )
    assert rows == [(user_id, True, "google", "g-9")]


def sign_in_with_google(client, provider, *, sub, email, verified=True):
    location = start(client)
    code = provider.authorize_google(location, sub=sub, email=email, verified=verified)
    return client.get(
        f"/api/v1/auth/oauth/google/callback?code={code}&state={query_of(location)['state']}"
    )


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


SQUATTER = {
    "email": "victim@gmail.test",
    "username": "squatter",
    "password": "Squatting-in-Seminyak-77",
}


def password_login(client, login, password):
    return client.post("/api/v1/auth/login", json={"login": login, "password": password})


def test_pre_account_takeover_the_squatters_password_and_sessions_die_when_the_owner_signs_in(
    oauth_client, provider, caplog
):
    """Someone registers the victim's address with a password and never verifies it; when the
    real owner signs in with Google, what the squatter set up must stop working at once."""
    client = oauth_client
    assert client.post("/api/v1/auth/register", json=SQUATTER).status_code == 201
    squatter = password_login(client, SQUATTER["email"], SQUATTER["password"]).get_json()
    assert (
        client.get("/api/v1/auth/me", headers=bearer(squatter["access_token"])).status_code == 200
    )

    with caplog.at_level(logging.WARNING, logger="api.auth.oauth"):
        owner = sign_in_with_google(client, provider, sub="g-owner", email="Victim@Gmail.test")

    assert owner.status_code == 200, owner.get_json()
    assert password_login(client, SQUATTER["email"], SQUATTER["password"]).status_code == 401
    assert password_login(client, "squatter", SQUATTER["password"]).status_code == 401
    assert (
        client.get("/api/v1/auth/me", headers=bearer(squatter["access_token"])).status_code == 401
    )
    refresh = client.post("/api/v1/auth/refresh", headers=bearer(squatter["refresh_token"]))
    assert refresh.status_code == 401
    me = client.get("/api/v1/auth/me", headers=bearer(owner.get_json()["access_token"]))
    assert me.status_code == 200
    assert me.get_json()["email"] == "victim@gmail.test"
    assert me.get_json()["is_verified"] is True
    rows = sql(
        client.application,
        "SELECT u.id, u.password_hash, i.subject FROM users u "
        "JOIN oauth_identities i ON i.user_id = u.id",
    )
    assert [(str(row[0]), row[1], row[2]) for row in rows] == [
        (me.get_json()["id"], None, "g-owner")
    ]
    [record] = [r for r in caplog.records if r.name == "api.auth.oauth"]
    assert me.get_json()["id"] in record.getMessage()
    assert "password" in record.getMessage()
    assert "gmail" not in record.getMessage().lower()  # no email addresses in logs
    again = sign_in_with_google(client, provider, sub="g-owner", email="victim@gmail.test")
    assert again.status_code == 200


def test_pre_account_takeover_the_squatters_pending_email_change_dies_too(
    oauth_client, provider, worker, tmp_path
):
    client = oauth_client
    assert client.post("/api/v1/auth/register", json=SQUATTER).status_code == 201
    squatter = password_login(client, SQUATTER["email"], SQUATTER["password"]).get_json()
    asked = client.patch(
        "/api/v1/auth/me",
        headers=bearer(squatter["access_token"]),
        json={"email": "squatter@evil.test", "current_password": SQUATTER["password"]},
    )
    assert asked.status_code == 200
    [link] = wait_for_emails(tmp_path / "outbox", "squatter@evil.test", 1)

    assert (
        sign_in_with_google(client, provider, sub="g-owner", email="victim@gmail.test").status_code
        == 200
    )

    followed = client.post("/api/v1/auth/verify-email", json={"token": link_token(link)})
    assert followed.status_code == 400
    assert sql(client.application, "SELECT email, pending_email FROM users") == [
        ("victim@gmail.test", None)
    ]
    to_owner = wait_for_emails(tmp_path / "outbox", "victim@gmail.test", 2)  # sign-up, notice
    assert any("being changed" in text for text in to_owner)


def test_pre_account_takeover_other_sign_ins_of_the_unverified_account_are_unlinked(
    oauth_client, provider
):
    """An unverified account may carry another provider's sign-in (set up by whoever
    registered the address); the owner proving the address must not share the account."""
    user_id = create_user(
        oauth_client.application, username="made", email="made@gmail.test", verified=False
    )
    sql(
        oauth_client.application,
        "INSERT INTO oauth_identities (id, user_id, provider, subject, created_at, updated_at) "
        "VALUES (gen_random_uuid(), :uid, 'wechat', 'u-squatter', now(), now())",
        uid=user_id,
    )

    response = sign_in_with_google(oauth_client, provider, sub="g-made", email="made@gmail.test")

    assert response.status_code == 200
    assert sql(oauth_client.application, "SELECT provider, subject FROM oauth_identities") == [
        ("google", "g-made")
    ]


def test_a_verified_account_is_linked_and_keeps_its_password_and_sessions(
    oauth_client, provider, caplog
):
    """Its owner proved the address already: linking Google takes nothing away."""
    app = oauth_client.application
    user_id = create_user(app, username="ketut", email="ketut@gmail.test", verified=True)
    before = password_login(oauth_client, "ketut", PASSWORD).get_json()

    with caplog.at_level(logging.WARNING, logger="api.auth.oauth"):
        response = sign_in_with_google(
            oauth_client, provider, sub="g-ketut", email="ketut@gmail.test"
        )

    assert response.status_code == 200
    assert password_login(oauth_client, "ketut@gmail.test", PASSWORD).status_code == 200
    assert (
        oauth_client.get("/api/v1/auth/me", headers=bearer(before["access_token"])).status_code
        == 200
    )
    assert sql(app, "SELECT user_id, subject FROM oauth_identities") == [(user_id, "g-ketut")]
    assert not [r for r in caplog.records if r.name == "api.auth.oauth"]


def test_an_unverified_google_email_does_not_take_over_an_account(oauth_client, provider):
    create_user(oauth_client.application, username="victim", email="victim@example.com")
    location = start(oauth_client)
    code = provider.authorize_google(
        location, sub="g-evil", email="victim@example.com", verified=False
    )

    oauth_client.get(
        f"/api/v1/auth/oauth/google/callback?code={code}&state={query_of(location)['state']}"
    )

    rows = sql(
        oauth_client.application,
        "SELECT u.username, u.email FROM users u JOIN oauth_identities i "
        "ON i.user_id = u.id WHERE i.subject = 'g-evil'",
    )
    assert rows[0][0] != "victim"
    assert rows[0][1] is None


@pytest.mark.parametrize("state", ["", "made-up-state"])
def test_missing_or_unknown_state_is_400(oauth_client, provider, state):
    location = start(oauth_client)
    code = provider.authorize_google(location, sub="g-1", email="a@example.com")

    response = oauth_client.get(f"/api/v1/auth/oauth/google/callback?code={code}&state={state}")

    assert response.status_code == 400
    assert response.get_json()["code"] == "oauth_state_invalid"


def test_state_works_once_and_only_for_its_provider(oauth_client, provider):
    location = start(oauth_client)
    state = query_of(location)["state"]
    wrong_provider = oauth_client.get(f"/api/v1/auth/oauth/wechat/callback?code=x&state={state}")
    assert wrong_provider.status_code == 400
    code = provider.authorize_google(location, sub="g-1", email="a@example.com")
    # The state was spent by the first (refused) use.
    replay = oauth_client.get(f"/api/v1/auth/oauth/google/callback?code={code}&state={state}")
    assert replay.status_code == 400


def test_id_token_with_the_wrong_nonce_or_signature_is_refused(oauth_client, provider):
    stranger_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for kwargs in ({"nonce": "replayed-nonce"}, {"sign_with": stranger_key}):
        location = start(oauth_client)
        code = provider.authorize_google(location, sub="g-1", email="a@example.com", **kwargs)
        response = oauth_client.get(
            f"/api/v1/auth/oauth/google/callback?code={code}&state={query_of(location)['state']}"
        )
        assert response.status_code == 400, kwargs
        assert response.get_json()["code"] == "oauth_failed"
    assert sql(oauth_client.application, "SELECT count(*) FROM users")[0][0] == 0


def test_denied_consent_is_400(oauth_client):
    state = query_of(start(oauth_client))["state"]

    response = oauth_client.get(
        f"/api/v1/auth/oauth/google/callback?error=access_denied&state={state}"
    )

    assert response.status_code == 400
    assert response.get_json()["code"] == "oauth_denied"


def test_wechat_sign_in_uses_the_unionid_and_needs_no_email(oauth_client, provider):
    location = start(oauth_client, "wechat")
    assert location.startswith(f"{provider.url}/connect/qrconnect?")
    assert location.endswith("#wechat_redirect")
    query = query_of(location.split("#")[0])
    assert query["appid"] == "wx-test-app"
    assert query["scope"] == "snsapi_login"
    code = provider.authorize_wechat(unionid="u-42", nickname="Li Wei")

    response = oauth_client.get(
        f"/api/v1/auth/oauth/wechat/callback?code={code}&state={query['state']}"
    )

    assert response.status_code == 200, response.get_json()
    rows = sql(
        oauth_client.application,
        "SELECT u.email, u.full_name, u.auth_provider, i.subject FROM users u "
        "JOIN oauth_identities i ON i.user_id = u.id",
    )
    assert rows == [(None, "Li Wei", "wechat", "u-42")]


def test_wechat_error_codes_are_400(oauth_client, provider):
    provider.wechat_errcode = 40029
    state = query_of(start(oauth_client, "wechat").split("#")[0])["state"]

    response = oauth_client.get(f"/api/v1/auth/oauth/wechat/callback?code=bad&state={state}")

    assert response.status_code == 400


def test_an_unconfigured_provider_is_404(client):
    response = client.get("/api/v1/auth/oauth/google/login")

    assert response.status_code == 404
    assert response.get_json()["code"] == "provider_not_available"
    assert client.get("/api/v1/auth/oauth/facebook/login").status_code == 404


# --- finishing in the browser: a redirect with a one-time code --------------------------------


def browser_callback(client, provider, *, sub="g-55", email="ayu@gmail.test"):
    location = start(client)
    code = provider.authorize_google(location, sub=sub, email=email)
    return client.get(
        f"/api/v1/auth/oauth/google/callback?code={code}&state={query_of(location)['state']}"
    )


def exchange(client, code):
    return client.post("/api/v1/auth/oauth/exchange", json={"code": code})


@pytest.mark.parametrize("accept", [BROWSER_ACCEPT, "*/*", None])
def test_the_callback_redirects_the_browser_to_the_frontend_with_a_one_time_code(
    oauth_app, provider, accept
):
    browser = oauth_app.test_client()
    if accept:
        browser.environ_base["HTTP_ACCEPT"] = accept

    response = browser_callback(browser, provider)

    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith("https://www.baliblissed.test/oauth/done?code=")
    assert "token" not in location.lower()
    assert "eyJ" not in location + response.get_data(as_text=True)  # no JWT anywhere
    code = query_of(location)["code"]
    pair = exchange(browser, code)
    assert pair.status_code == 200
    tokens = pair.get_json()
    assert tokens["token_type"] == "bearer"
    me = browser.get("/api/v1/auth/me", headers=bearer(tokens["access_token"]))
    assert me.get_json()["email"] == "ayu@gmail.test"
    refreshed = browser.post("/api/v1/auth/refresh", headers=bearer(tokens["refresh_token"]))
    assert refreshed.status_code == 200


def test_a_code_works_once_and_lives_sixty_seconds(browser, provider):
    code = query_of(browser_callback(browser, provider).headers["Location"])["code"]
    keys = redis.Redis.from_url(browser.application.config["SECURITY_REDIS_URL"]).keys(
        "security:oauth-code:*"
    )
    [key] = keys
    assert code not in key.decode()  # the store keeps the code's hash, not the code
    ttl = redis.Redis.from_url(browser.application.config["SECURITY_REDIS_URL"]).ttl(key)
    assert 50 <= ttl <= 60

    first = exchange(browser, code)
    again = exchange(browser, code)

    assert first.status_code == 200
    assert again.status_code == 400
    assert again.headers["Content-Type"] == "application/problem+json"
    assert again.get_json()["code"] == "invalid_code"


def test_an_expired_or_made_up_code_is_a_400_problem(browser, provider):
    code = query_of(browser_callback(browser, provider).headers["Location"])["code"]
    store = redis.Redis.from_url(browser.application.config["SECURITY_REDIS_URL"])
    [key] = store.keys("security:oauth-code:*")
    store.delete(key)  # what Redis does when the 60 s are up

    expired = exchange(browser, code)
    made_up = exchange(browser, "not-a-code")

    assert expired.status_code == made_up.status_code == 400
    assert expired.get_json()["code"] == made_up.get_json()["code"] == "invalid_code"
    for body in ({}, {"code": ""}, {"code": "x" * 129}, {"code": 5}):
        assert browser.post("/api/v1/auth/oauth/exchange", json=body).status_code == 422, body


def test_a_code_dies_when_the_sessions_end_before_it_is_used(browser, provider):
    code = query_of(browser_callback(browser, provider).headers["Location"])["code"]
    sql(browser.application, "UPDATE users SET session_version = session_version + 1")

    assert exchange(browser, code).status_code == 400


def test_a_failed_sign_in_redirects_with_the_error_and_writes_nothing(browser, provider):
    location = start(browser)
    state = query_of(location)["state"]

    denied = browser.get(f"/api/v1/auth/oauth/google/callback?error=access_denied&state={state}")
    forged = browser.get("/api/v1/auth/oauth/google/callback?code=x&state=forged")

    assert denied.status_code == forged.status_code == 302
    assert denied.headers["Location"] == (
        "https://www.baliblissed.test/oauth/done?error=oauth_denied"
    )
    assert query_of(forged.headers["Location"]) == {"error": "oauth_state_invalid"}
    assert sql(browser.application, "SELECT count(*) FROM users") == [(0,)]
