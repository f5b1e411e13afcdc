"""Forged, stale and misused tokens: every one is a 401 problem+json with
`WWW-Authenticate: Bearer` and none of the account's data, on every kind of protected route."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask

from api.auth.tokens import issue_pair
from api.extensions import db
from api.users.models import User
from config import JWT_AUDIENCE, JWT_ISSUER
from tests.conftest import PASSWORD, create_user, sql
from tests.test_auth import login

PROTECTED = [
    ("GET", "/api/v1/auth/me"),
    ("GET", "/api/v1/auth/me/export"),
    ("GET", "/api/v1/jobs"),
    ("GET", "/api/v1/itineraries"),
    ("POST", "/api/v1/auth/logout"),
    ("GET", "/api/v1/webhooks/secret"),
]


def pair_for(app: Flask, user_id: uuid.UUID) -> dict[str, Any]:
    with app.app_context():
        return issue_pair(db.session.get(User, user_id))


def claims_of(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def assert_refused(app: Flask, token: str, what: str) -> None:
    client = app.test_client()
    for method, path in PROTECTED:
        response = client.open(path, method=method, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, (what, path, response.status_code)
        assert response.headers["Content-Type"] == "application/problem+json", (what, path)
        assert response.headers["WWW-Authenticate"] == "Bearer", (what, path)
        assert "example.com" not in response.get_data(as_text=True), (what, path)


@pytest.fixture
def victim(app: Flask) -> tuple[uuid.UUID, dict[str, Any]]:
    user_id = create_user(app)
    return user_id, pair_for(app, user_id)


def hs256_by_hand(header: dict[str, Any], claims: dict[str, Any], key: bytes) -> str:
    """Signed without PyJWT, which (rightly) refuses a PEM public key as an HMAC secret."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def secret(app: Flask) -> str:
    return str(app.config["JWT_SECRET_KEY"])


def forged(app: Flask, claims: dict[str, Any], **kwargs: Any) -> str:
    return jwt.encode(claims, kwargs.pop("key", secret(app)), **kwargs)


def test_the_untouched_token_works(app, victim):
    """The control: everything below differs from this by one thing."""
    response = app.test_client().get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {victim[1]['access_token']}"}
    )
    assert response.status_code == 200
    claims = claims_of(victim[1]["access_token"])
    assert (claims["iss"], claims["aud"]) == (JWT_ISSUER, JWT_AUDIENCE)


def test_alg_none_is_refused(app, victim):
    claims = claims_of(victim[1]["access_token"])
    for alg in ("none", "None", "NONE", "nOnE"):
        header = b64(json.dumps({"alg": alg, "typ": "JWT"}).encode())
        payload = b64(json.dumps(claims).encode())
        assert_refused(app, f"{header}.{payload}.", f"alg {alg}")
        assert_refused(app, f"{header}.{payload}", f"alg {alg}, no signature part")


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")  # HS512: on purpose
def test_rs256_and_hs_rs_confusion_are_refused(app, victim):
    claims = claims_of(victim[1]["access_token"])
    attacker = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert_refused(app, jwt.encode(claims, attacker, algorithm="RS256"), "RS256, attacker's key")
    public_pem = attacker.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # The classic confusion: an HS256 token keyed by a public key the attacker publishes in
    # the header, for a verifier that would take the key from the token.
    header = {"jwk": json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(attacker.public_key()))}
    token = hs256_by_hand({"alg": "HS256", "typ": "JWT", **header}, claims, public_pem)
    assert_refused(app, token, "HS256 keyed by an embedded public key")
    for algorithm in ("HS384", "HS512"):  # the right key, an algorithm the app does not use
        assert_refused(app, forged(app, claims, algorithm=algorithm), algorithm)


def test_expired_not_yet_valid_and_tampered_tokens_are_refused(app, victim):
    claims = claims_of(victim[1]["access_token"])
    now = int(time.time())
    assert_refused(app, forged(app, {**claims, "exp": now - 5}), "expired")
    assert_refused(app, forged(app, {**claims, "nbf": now + 3600}), "not yet valid")
    assert_refused(app, forged(app, {**claims, "exp": "never"}), "exp not a number")
    other = create_user(app)
    header, payload, signature = victim[1]["access_token"].split(".")
    swapped = b64(json.dumps({**claims, "sub": str(other), "type": "access"}).encode())
    assert_refused(app, f"{header}.{swapped}.{signature}", "payload swapped, signature kept")
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    assert_refused(app, f"{header}.{payload}.{flipped}", "signature altered")
    assert_refused(app, forged(app, claims, key="not-the-secret-" + "x" * 32), "another key")


def test_tokens_without_our_issuer_and_audience_are_refused(app, victim):
    claims = claims_of(victim[1]["access_token"])
    for what, changed in {
        "no iss": {k: v for k, v in claims.items() if k != "iss"},
        "no aud": {k: v for k, v in claims.items() if k != "aud"},
        "another iss": {**claims, "iss": "someone-else"},
        "another aud": {**claims, "aud": "another-service"},
    }.items():
        assert_refused(app, forged(app, changed), what)


def test_malformed_authorization_headers_are_refused(app):
    client = app.test_client()
    for value in [
        "Bearer",
        "Bearer ",
        "Bearer abc",
        "Bearer a.b.c",
        "Bearer " + "A" * 10_000,
        "Bearer e30.e30.",
        "Basic dXNlcjpwYXNz",
        "bearer\x00x",
    ]:
        response = client.get("/api/v1/auth/me", headers={"Authorization": value})
        assert response.status_code == 401, value
        assert response.headers["Content-Type"] == "application/problem+json", value


def test_claims_naming_no_user_or_a_stranger_are_refused(app, victim):
    claims = claims_of(victim[1]["access_token"])
    for sub in ("not-a-uuid", str(uuid.uuid4()), "", "0" * 5000):
        assert_refused(app, forged(app, {**claims, "sub": sub}), f"sub {sub[:20]!r}")
    assert_refused(app, forged(app, {**claims, "sub": None}), "sub null")


def test_a_revoked_access_token_is_refused(app, victim):
    access = victim[1]["access_token"]
    response = app.test_client().post(
        "/api/v1/auth/logout", headers={"Authorization": f"Bearer {access}"}
    )
    assert response.status_code == 204
    assert_refused(app, access, "after logout")


def test_a_refresh_token_is_not_an_access_token_nor_the_reverse(app, victim):
    assert_refused(app, victim[1]["refresh_token"], "refresh used as access")
    response = app.test_client().post(
        "/api/v1/auth/refresh", headers={"Authorization": f"Bearer {victim[1]['access_token']}"}
    )
    assert response.status_code == 401
    assert response.headers["Content-Type"] == "application/problem+json"


def test_the_token_of_a_deactivated_or_deleted_user_is_refused(app, victim):
    user_id, pair = victim
    sql(app, "UPDATE users SET is_active = false WHERE id = :id", id=user_id)
    assert_refused(app, pair["access_token"], "deactivated")
    assert_refused_refresh(app, pair["refresh_token"], "deactivated")
    sql(app, "DELETE FROM users WHERE id = :id", id=user_id)
    assert_refused(app, pair["access_token"], "deleted")
    assert_refused_refresh(app, pair["refresh_token"], "deleted")


def test_a_token_from_before_a_password_change_is_refused(app, client):
    user_id = create_user(app, username="wayan")
    old = pair_for(app, user_id)
    sql(app, "UPDATE users SET session_version = session_version + 1 WHERE id = :id", id=user_id)
    assert_refused(app, old["access_token"], "older session version")
    assert_refused_refresh(app, old["refresh_token"], "older session version")
    assert login(client, "wayan", PASSWORD).status_code == 200  # signing in again works


def assert_refused_refresh(app: Flask, token: str, what: str) -> None:
    response = app.test_client().post(
        "/api/v1/auth/refresh", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 401, (what, response.get_json())
    assert response.headers["Content-Type"] == "application/problem+json", what
